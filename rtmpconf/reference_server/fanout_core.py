"""The compiled fan-out core, when built: one GIL-free call per message sends it to many players.

``_fanout_send.c`` (built by setup.py through cffi) does the sends; this module turns a batch of
``(socket fd, bytes)`` into that call and reports back which sockets did not take everything, so
the caller can hand the rest to their transports. Without the compiled module
:func:`available` is False and the server keeps its pure-Python flush (server.py).

Why: at 100 players a message costs the server ~12 µs of kernel time per player on loopback
(bench/compare.py, py-spy), one player after another, so the last player's copy leaves ~1.2 ms
after the first, plus the Python around each ``transport.write``. The core removes the Python
part and, from ``split_min`` players up, spreads the sends over two cores.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

try:
    from rtmpconf.reference_server._fanout_core import ffi as _ffi  # type: ignore[import-not-found]
    from rtmpconf.reference_server._fanout_core import lib as _lib  # type: ignore[import-not-found]
except ImportError:  # not built (no compiler at install time)
    _ffi = None
    _lib = None

#: Most buffers one message batch may carry (``FANOUT_MAX_BUFS`` in the C source).
MAX_BUFS = 64
#: ``FANOUT_ABI`` of the C source this module drives; a build of an older source is not used.
ABI = 1
#: Why the core is not in use, for the server's start-up log ("" when it is).
unavailable_reason = ""
if _lib is None:
    unavailable_reason = "not built"
else:
    _abi = getattr(_lib, "rtmpconf_fanout_abi", lambda: 0)()
    if _abi != ABI:
        unavailable_reason = f"stale build (ABI {_abi}, want {ABI}): reinstall to rebuild it"
        _ffi = _lib = None


def available() -> bool:
    """True when the compiled core is built, from the current source."""
    return _lib is not None


def default_threads() -> int:
    """Two sending threads when the machine has a second core, else one."""
    return 2 if (os.cpu_count() or 1) > 1 else 1


class FanoutSender:
    """Sends one set of buffers to many sockets through the compiled core.

    ``threads``: 1 or 2; ``split_min``: the smallest batch worth a second thread (below it the
    helper's wake-up costs more than the sends it would take over).
    """

    def __init__(self, threads: int = 2, split_min: int = 16) -> None:
        if _lib is None:
            raise RuntimeError("the compiled fan-out core is not built (see setup.py)")
        self.threads = max(1, min(2, threads))
        self.split_min = max(2, split_min)
        self._cap = 0
        self._fds: Any = None
        self._sent: Any = None
        self._short: Any = None
        self.calls = 0  #: batches sent (tests and stats)

    def _reserve(self, n: int) -> None:
        if n > self._cap:
            cap = max(n, 2 * self._cap, 64)
            assert _ffi is not None
            self._fds = _ffi.new("int[]", cap)
            self._sent = _ffi.new("long[]", cap)
            self._short = _ffi.new("int[]", cap)
            self._cap = cap

    def send(self, fds: Sequence[int], bufs: Sequence[bytes]) -> list[tuple[int, int]]:
        """Send ``bufs`` (in order, as one) to every socket of ``fds``.

        Returns ``(index into fds, bytes taken)`` for each socket that did not take everything:
        taken is 0 when it would block, negative (``-errno``) on an error.
        """
        n = len(fds)
        if not n:
            return []
        if not 1 <= len(bufs) <= MAX_BUFS:
            raise ValueError(f"1 to {MAX_BUFS} buffers per batch, not {len(bufs)}")
        assert _ffi is not None and _lib is not None
        self._reserve(n)
        fd_arr = self._fds
        fd_arr[0:n] = fds
        keep = [_ffi.from_buffer(b) for b in bufs]
        ptrs = _ffi.new("const char *[]", keep)
        lens = _ffi.new("size_t[]", [len(b) for b in bufs])
        shorts = _lib.rtmpconf_fanout_send(fd_arr, n, ptrs, lens, len(bufs), self._sent, self._short,
                                           self.threads, self.split_min)
        self.calls += 1
        if shorts <= 0:
            return []
        sent = self._sent
        return [(i, sent[i]) for i in self._short[0:shorts]]

    def send_rest(self, fds: Sequence[int], bufs: Sequence[bytes]) -> list[tuple[int, bytes]]:
        """:meth:`send` for any number of buffers (more than ``MAX_BUFS`` go as one joined buffer).

        Returns, for each socket that did not take everything, its index into ``fds`` and the
        bytes its transport must still send: the rest after a short send, or all of them after an
        error (the transport then meets the error too and reports the connection lost).
        """
        if len(bufs) > MAX_BUFS:
            bufs = (b"".join(bufs),)
        short = self.send(fds, bufs)
        if not short:
            return []
        whole = bufs[0] if len(bufs) == 1 else b"".join(bufs)
        return [(i, whole[taken:] if taken > 0 else whole) for i, taken in short]
