"""Wireshark (tshark 4.0 through pyshark) as an oracle for the capture analyzer, in tests only.

``wireshark_counts`` decodes a capture with pyshark (decode-as RTMP on the server port, the
reassembly limit rtmpt.max_packet_size raised) and counts complete RTMP messages by type id
per connection and direction: one ``rtmpt`` protocol tree per message in PDML, even when one
frame holds several messages (``-T fields -E occurrence=a`` would misalign them, see
captures/README.md). Wireshark names the type only when the chunk header carries it (fmt 0/1);
for fmt 2/3 headers the type is inferred from the body fields it dissected.

pyshark runs in child processes only: on the thread it runs on it makes an event loop current,
and on a main thread it installs a SafeChildWatcher (a SIGCHLD handler) for the whole process;
asyncio's default ThreadedChildWatcher loses tshark's exit status ("Unknown child process pid",
reported as a TShark crash), so pyshark's set-up has to stay, just not in the pytest process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from rtmpconf.harness.peers import PeerMissing, in_ci

#: Large enough for every message of the corpus (the largest keyframes are ~200 KB).
MAX_PACKET_SIZE = 1 << 20

#: Body fields -> type id, for messages whose header (fmt 2/3) does not repeat the type.
_BODY_TYPES = (
    ("scm_chunksize", 1), ("scm_csid", 2), ("scm_seq", 3), ("ucm_eventtype", 4), ("scm_limittype", 6),
    ("scm_was", 5), ("audio_control", 8), ("video_control", 9), ("function_call", 20),
    ("function_response", 20), ("tag_type", 22), ("amf_amf0_type", 18),
)

Key = tuple[int, str]  # (client port, "c2s" | "s2c")


def require_tshark() -> str:
    """tshark's path; a missing tshark is an error under CI=true, never a skip."""
    import pytest

    path = shutil.which("tshark")
    if path is None:
        msg = "tshark not found on PATH (apt-get install tshark)"
        if in_ci():
            pytest.fail(f"CI=true and the Wireshark oracle is missing: {msg}")
        pytest.skip(msg)
    try:
        import pyshark  # noqa: F401
    except ImportError as exc:
        if in_ci():
            pytest.fail(f"CI=true and pyshark is missing: {exc}")
        pytest.skip(f"pyshark missing: {exc}")
    return path


def layer_type(layer: object) -> int | None:
    """The type id of one dissected message (None for handshake trees)."""
    names = set(getattr(layer, "field_names", []))
    if names & {"handshake_c0", "handshake_c1", "handshake_c2", "handshake_s0", "handshake_s1", "handshake_s2"}:
        return None
    t = layer.get_field("header_typeid")  # type: ignore[attr-defined]
    if t:
        return int(str(t), 16)
    for field, type_id in _BODY_TYPES:
        if field in names:
            return type_id
    return -1


Message = tuple[int, int | None]  # (type id, timestamp)


def wireshark_counts(path: str, server_port: int, **kw: object) -> dict[Key, Counter[int]]:
    """Complete RTMP messages per (client port, direction) and type id, as Wireshark sees them."""
    return {k: Counter(t for t, _ in v) for k, v in wireshark_messages(path, server_port, **kw).items()}  # type: ignore[arg-type]


#: Deadline for one capture's decoding in a child process (pyshark parses ~200 frames/s).
DECODE_TIMEOUT_S = 300


def wireshark_messages(path: str, server_port: int, *, max_packet_size: int = MAX_PACKET_SIZE,
                       extra_prefs: dict[str, str] | None = None) -> dict[Key, list[Message]]:
    """Every RTMP message Wireshark dissects, per (client port, direction), in order; decoded in
    a child process (see the module doc)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(wireshark_messages_in_this_process, path, server_port,
                             max_packet_size=max_packet_size, extra_prefs=extra_prefs)
        return future.result(timeout=DECODE_TIMEOUT_S)


def wireshark_messages_in_this_process(path: str, server_port: int, *, max_packet_size: int = MAX_PACKET_SIZE,
                                       extra_prefs: dict[str, str] | None = None) -> dict[Key, list[Message]]:
    """``wireshark_messages`` in the calling process: for child processes only (pool workers)."""
    import pyshark

    prefs = {"rtmpt.max_packet_size": str(max_packet_size), **(extra_prefs or {})}
    decode_as = {f"tcp.port=={server_port}": "rtmpt"} if server_port != 1935 else None
    _ensure_event_loop()
    cap = pyshark.FileCapture(path, decode_as=decode_as, override_prefs=prefs, display_filter="rtmpt",
                              keep_packets=False)
    out: dict[Key, list[Message]] = {}
    try:
        for pkt in cap:
            sport, dport = int(pkt.tcp.srcport), int(pkt.tcp.dstport)
            key = (dport, "s2c") if sport == server_port else (sport, "c2s")
            for layer in pkt.get_multiple_layers("rtmpt"):
                t = layer_type(layer)
                if t is not None:
                    # Wireshark 4.0 shows 0xFFFFFF as the "calculated" timestamp of a header with
                    # an extended timestamp; the value itself is in rtmpt.header.ets.
                    ts = layer.get_field("header_ets") or layer.get_field("header_timestamp")
                    out.setdefault(key, []).append((t, int(ts) if ts is not None else None))
    finally:
        cap.close()
    return out


def _ensure_event_loop() -> None:
    """pyshark runs tshark on the thread's current event loop (and sets up its child watcher for
    it); an earlier asyncio.run() (the replay tests) leaves the thread without one."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def analyzer_messages(report: object) -> dict[Key, list[Message]]:
    """(type id, timestamp) of every message our analyzer decoded, per (client port, direction)."""
    out: dict[Key, list[Message]] = {}
    for c in report.connections:  # type: ignore[attr-defined]
        port = int(c.client.rsplit(":", 1)[1])
        for d in ("c2s", "s2c"):
            msgs = c.session.log.decode(d).messages
            out[(port, d)] = [(m.raw.type_id, m.raw.timestamp) for m in msgs]
    return out


def analyzer_counts(report: object) -> dict[Key, Counter[int]]:
    """The same table from our analyzer's report."""
    out: dict[Key, Counter[int]] = {}
    for c in report.connections:  # type: ignore[attr-defined]
        port = int(c.client.rsplit(":", 1)[1])
        for d in ("c2s", "s2c"):
            out[(port, d)] = Counter(c.directions[d].messages_by_type)
    return out


__all__ = ["PeerMissing", "analyzer_counts", "analyzer_messages", "layer_type", "require_tshark", "wireshark_counts",
           "wireshark_messages", "wireshark_messages_in_this_process"]
