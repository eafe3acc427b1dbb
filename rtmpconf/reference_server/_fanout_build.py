"""cffi builder of the compiled fan-out core (``_fanout_send.c``); setup.py builds it when it can.

cffi rather than Cython: the core is a plain C loop over ``sendmsg`` plus one helper thread, so
it stays C, and cffi releases the GIL for the whole call without further annotation. When no
compiler is available the install goes on without it and the server uses its pure-Python flush
(``fanout_core.available()`` is then False; CI treats that as an error).
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

CDEF = """
int rtmpconf_fanout_abi(void);
int rtmpconf_fanout_send(const int *fds, int n, const char *const *bufs, const size_t *lens, int nbufs,
                         long *sent, int *short_idx, int threads, int split_min);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "rtmpconf.reference_server._fanout_core",
    (Path(__file__).with_name("_fanout_send.c")).read_text(),
    extra_compile_args=["-O2", "-pthread"],
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
