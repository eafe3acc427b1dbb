"""The Connection front object and typed messages."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmpconf.rtmp.chunk import ChunkReader, ChunkRecord, RawMessage
from rtmpconf.rtmp.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from rtmpconf.rtmp.messages import (
    Acknowledgement,
    Aggregate,
    Audio,
    Command,
    Data,
    LimitType,
    Message,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    Video,
    WindowAckSize,
    decode_message,
    encode_message,
)
from rtmpconf.rtmp.session import NEED_DATA, Connection, HandshakeComplete, MessageReceived, Role


def pair() -> tuple[Connection, Connection]:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.data_to_send())  # C0 C1
    client.receive_data(server.data_to_send())  # S0 S1 S2
    server.receive_data(client.data_to_send())  # C2
    assert isinstance(server.next_event(), HandshakeComplete)
    assert isinstance(client.next_event(), HandshakeComplete)
    return client, server


def received(conn: Connection) -> list[MessageReceived]:
    return [e for e in conn.events() if isinstance(e, MessageReceived)]


def test_bytes_after_c2_in_the_same_read_are_kept() -> None:
    # HS-6: librtmp writes C2 and connect together.
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.next_event()
    client.send(Command("connect", 1.0, {"app": "live"}))
    server.receive_data(client.data_to_send())  # C2 + connect
    events = server.events()
    assert isinstance(events[0], HandshakeComplete)
    assert isinstance(events[1], MessageReceived) and events[1].message == Command("connect", 1.0, {"app": "live"})


def test_every_split_of_a_whole_session() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    c0c1 = client.data_to_send()
    server.receive_data(c0c1)
    client.receive_data(server.data_to_send())
    client.next_event()
    client.send(SetChunkSize(64))
    client.send(Command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://x/live" * 10}))
    stream = c0c1 + client.data_to_send()  # C0 C1, then C2 + Set Chunk Size + connect
    for cut in range(0, len(stream), 97):
        s = Connection(Role.SERVER)
        s.receive_data(stream[:cut]) if cut else None
        s.receive_data(stream[cut:])
        msgs = received(s)
        assert [type(m.message).__name__ for m in msgs] == ["SetChunkSize", "Command"]


def test_auto_ack_at_window() -> None:
    client, server = pair()
    client.send(WindowAckSize(1000))
    server.receive_data(client.data_to_send())
    received(server)
    for i in range(5):
        client.send(Audio(bytes(400)), msid=1, timestamp=i)
        server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    acks = [e.message for e in received(client) if isinstance(e.message, Acknowledgement)]
    assert len(acks) >= 2
    assert [a.sequence for a in acks] == sorted(a.sequence for a in acks)


def test_ping_is_answered_byte_exactly() -> None:
    client, server = pair()
    client.send(UserControl.ping_request(0x01020304))
    server.receive_data(client.data_to_send())
    received(server)
    client.receive_data(server.data_to_send())
    msgs = received(client)
    assert msgs[-1].message == UserControl(UserControlEvent.PING_RESPONSE, b"\x01\x02\x03\x04")


def test_set_peer_bandwidth_limit_types() -> None:
    # CTRL-4: Hard 1e6 -> Dynamic 2e6 (applies) -> Soft 5e5 (applies) -> Dynamic 9e6 (ignored).
    client, server = pair()
    for size, kind in ((1_000_000, 0), (2_000_000, 2), (500_000, 1), (9_000_000, 2)):
        server.send(SetPeerBandwidth(size, kind))
        client.receive_data(server.data_to_send())
    received(client)
    assert client.peer_bandwidth == 500_000
    server.receive_data(client.data_to_send())
    sizes = [e.message.size for e in received(server) if isinstance(e.message, WindowAckSize)]
    assert sizes == [1_000_000, 2_000_000, 500_000]


def test_send_before_handshake_refused() -> None:
    with pytest.raises(LocalProtocolError) as err:
        Connection(Role.SERVER).send(Command("x", 0.0))
    assert err.value.rule == "HS-4"


def test_protocol_error_comes_after_earlier_events() -> None:
    client, server = pair()
    client.send(Command("connect", 1.0, {"app": "live"}))
    client.send_raw(bytes([0xC9]) + b"x")  # fmt 3 on a fresh chunk stream
    server.receive_data(client.data_to_send())
    assert isinstance(server.next_event(), MessageReceived)
    with pytest.raises(RemoteProtocolError):
        server.next_event()


def test_aggregate_timestamps_are_offset() -> None:
    # CTRL-13: aggregate ts 1000 with subs at 5000/5040/5080 delivers 1000/1040/1080.
    agg = Aggregate.build([(9, 5000, b"a"), (9, 5040, b"bb"), (8, 5080, b"ccc")])
    subs = agg.sub_messages(msid=7, timestamp=1000)
    assert [(m.type_id, m.timestamp, m.payload, m.msid) for m in subs] == [
        (9, 1000, b"a", 7), (9, 1040, b"bb", 7), (8, 1080, b"ccc", 7)]


@pytest.mark.parametrize("type_id", [1, 2, 3, 5, 6])
def test_short_control_payloads_refused(type_id: int) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        decode_message(type_id, b"\x00\x10")
    assert err.value.rule == "CTRL-5"


def test_message_round_trips() -> None:
    for msg in (Command("publish", 0.0, None, ("name", "live")), Data(("onMetaData", {"w": 1.0})),
                UserControl.set_buffer_length(1, 3000), SetPeerBandwidth(5, 2), Acknowledgement(7),
                Command("connect", 1.0, {"app": "a"}, amf3=True)):
        assert decode_message(*encode_message(msg)) == msg


def test_unknown_user_control_event_is_kept() -> None:
    msg = decode_message(4, struct.pack(">H", 99) + b"\x00\x00\x00\x01")
    assert isinstance(msg, UserControl) and msg.event == 99


def test_need_data_sentinel() -> None:
    assert Connection(Role.SERVER).next_event() is NEED_DATA


def test_acks_stay_on_window_boundaries() -> None:
    # CTRL-1: 5400 bytes in 300-byte reads with a 1000-byte window cross 5 boundaries: 5 acks.
    client, server = pair()
    client.send(WindowAckSize(1000))
    server.receive_data(client.data_to_send())
    received(server)
    for i in range(20):
        client.send(Audio(bytes(300 - 12)), msid=1, timestamp=i)
    data = client.data_to_send()
    expected = 1  # the read that carried Window Ack Size already crossed three windows
    for off in range(0, len(data), 300):
        before = server.bytes_received
        server.receive_data(data[off:off + 300])
        expected += server.bytes_received // 1000 > before // 1000
    client.receive_data(server.data_to_send())
    acks = [e.message.sequence for e in received(client) if isinstance(e.message, Acknowledgement)]
    assert len(acks) == expected  # one per read that crosses a window boundary, no drift
    assert acks == sorted(acks)


# -- one output path: automatic replies and sends leave in encoding order ----------------------------

#: C0+C1+C2 (client) or S0+S1+S2 (server): what each side writes before its first chunk.
HANDSHAKE_OUT = 1 + 2 * 1536


def _reaction() -> list[Message]:
    """What a caller sends after handling a glued read: the reference server's connect answer
    (CMD-4), control messages on csid 2 then a command on csid 3."""
    return [WindowAckSize(2_500_000), SetPeerBandwidth(2_500_000, LimitType.DYNAMIC), SetChunkSize(4096),
            UserControl.stream_begin(0),
            Command("_result", 1.0, {"fmsVer": "FMS/3,0,1,123"}, ({"code": "NetConnection.Connect.Success"},))]


def _decode_chunks(data: bytes) -> tuple[list[RawMessage], list[ChunkRecord]]:
    """A fresh reader over one direction's chunk bytes; every chunk stream must open with fmt 0."""
    reader = ChunkReader(record_chunks=True)
    reader.feed(data)
    assert reader.notices == [], reader.notices  # e.g. a chunk stream opened with fmt 1 (CH-5)
    assert reader.buffered == 0
    assert reader.chunks is not None
    opened: set[int] = set()
    for ch in reader.chunks:
        if ch.csid not in opened:
            # §5.3.1.2.1: type 0 "MUST be used at the start of a chunk stream".
            assert ch.fmt == 0, f"csid {ch.csid} opens with fmt {ch.fmt}"
            opened.add(ch.csid)
    return reader.messages(), reader.chunks


def _wire(msgs: list[Message]) -> list[tuple[int, bytes]]:
    return [encode_message(m) for m in msgs]


def _glued_read(role: Role, trigger: str) -> tuple[Connection, bytearray, list[Message]]:
    """Drive ``role`` to the point where one read carries ``trigger`` and a command; returns the
    connection under test (that read fed, nothing drained yet), everything it wrote before, and
    the automatic replies the read must produce."""
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    conn, peer = (server, client) if role is Role.SERVER else (client, server)
    out = bytearray()

    def take(c: Connection) -> bytes:
        data = c.data_to_send()
        if c is conn:
            out.extend(data)
        return data

    server.receive_data(take(client))  # C0 C1
    s0s1s2 = take(server)
    command = Command("connect", 1.0, {"app": "live"}) if role is Role.SERVER else Command("onBWDone", 0.0)
    if trigger == "handshake-end+set-peer-bandwidth+command":
        if role is Role.SERVER:
            client.receive_data(s0s1s2)
            client.send(SetPeerBandwidth(1_000_000, LimitType.HARD))
            client.send(command)
            server.receive_data(take(client))  # C2 + Set Peer Bandwidth + connect
        else:
            # A server that glues chunks to S2 (illegal before C2, HS-4, but a client copes):
            # encoded on the server's writer, so they are what it would send after C2.
            server.send_raw(server.writer.encode(2, 6, 0, 0, encode_message(SetPeerBandwidth(1_000_000, 0))[1]))
            server.send_raw(server.writer.encode(3, 20, 0, 0, encode_message(command)[1]))
            client.receive_data(s0s1s2 + take(server))  # S0 S1 S2 + Set Peer Bandwidth + command
        return conn, out, [WindowAckSize(1_000_000)]
    client.receive_data(s0s1s2)
    server.receive_data(take(client))  # C2
    conn.events()
    if trigger == "ping+command":
        peer.send(UserControl.ping_request(0x01020304))
        peer.send(command)
        conn.receive_data(take(peer))
        return conn, out, [UserControl.ping_response(b"\x01\x02\x03\x04")]
    if trigger == "data-crossing-ack-window+command":
        peer.send(WindowAckSize(5000))
        conn.receive_data(take(peer))  # 3073 + 16 bytes so far: below the window
        assert conn.pending == 0
        peer.send(Audio(bytes(3000)), msid=1, timestamp=40)
        peer.send(command)
        conn.receive_data(take(peer))
        return conn, out, [Acknowledgement(conn.bytes_received)]
    assert trigger == "set-chunk-size+window-ack-size+command"
    peer.send(SetChunkSize(4096))
    peer.send(WindowAckSize(1000))
    peer.send(Command(command.name, command.transaction_id, command.command_object, ("x" * 3000,)))
    conn.receive_data(take(peer))  # one 4096-byte chunk for the command; the window is already crossed
    return conn, out, [Acknowledgement(conn.bytes_received)]


GLUED_TRIGGERS = ["handshake-end+set-peer-bandwidth+command", "ping+command", "data-crossing-ack-window+command",
                  "set-chunk-size+window-ack-size+command"]


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT], ids=["server", "client"])
@pytest.mark.parametrize("trigger", GLUED_TRIGGERS)
def test_auto_reply_and_command_reply_leave_in_encoding_order(role: Role, trigger: str) -> None:
    """One read triggers an automatic reply and carries a command; the caller answers the
    command before draining. The output is a legal chunk stream in encoding order."""
    conn, out, autos = _glued_read(role, trigger)
    assert [type(e) for e in conn.events()][-1] is MessageReceived
    for msg in _reaction():
        conn.send(msg)
    out += conn.data_to_send()
    msgs, _ = _decode_chunks(bytes(out[HANDSHAKE_OUT:]))
    assert [(m.type_id, m.payload) for m in msgs] == _wire(autos + _reaction())


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT], ids=["server", "client"])
@pytest.mark.parametrize("trigger", GLUED_TRIGGERS)
def test_two_queue_order_would_be_illegal(role: Role, trigger: str) -> None:
    """Control: writing the command's replies ahead of the automatic reply (two queues) opens
    csid 2 with a compressed header, so the order tested above is the only legal one."""
    conn, out, _ = _glued_read(role, trigger)
    conn.events()  # delivering the events encodes the ping and window replies
    auto = conn.data_to_send()
    for msg in _reaction():
        conn.send(msg)
    replies = conn.data_to_send()
    with pytest.raises((AssertionError, ProtocolError)):
        _decode_chunks(bytes(out[HANDSHAKE_OUT:]) + replies + auto)


# Property: any interleaving of reads that trigger automatic replies and of sends -------------------

_read_part = st.one_of(
    st.tuples(st.just("ping"), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just("peer-bandwidth"), st.integers(1, 1 << 20).map(lambda n: 2 * n), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("window"), st.integers(1, 20_000)),
    st.tuples(st.just("media"), st.integers(0, 9000)),
    st.tuples(st.just("chunk-size"), st.sampled_from([1, 60, 128, 4096])),
    st.tuples(st.just("command"), st.integers(0, 400)),
)
_send = st.one_of(
    st.tuples(st.just("command"), st.integers(0, 600)),
    st.tuples(st.just("audio"), st.integers(0, 600), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just("video"), st.integers(0, 3000), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just("stream-begin"), st.integers(0, 5)),
    st.tuples(st.just("chunk-size"), st.sampled_from([1, 50, 128, 4096])),
    st.tuples(st.just("window"), st.integers(0, 1 << 17)),
    st.tuples(st.just("peer-bandwidth"), st.integers(1, 1 << 18)),
)
_op = st.one_of(
    st.tuples(st.just("read"), st.lists(_read_part, min_size=1, max_size=4), st.integers(0, 3)),
    st.tuples(st.just("send"), _send),
    st.tuples(st.just("drain")),
)


@settings(max_examples=200, deadline=None)
@given(role=st.sampled_from([Role.SERVER, Role.CLIENT]), ops=st.lists(_op, max_size=25))
def test_any_interleaving_decodes_in_encoding_order(role: Role, ops: list[tuple[Any, ...]]) -> None:
    """Whatever mix of triggering reads, sends and drains: a fresh reader decodes the output
    without error, every sent message appears in send order, and each automatic reply sits
    between the sends made before and after the read that triggered it."""
    client, server = pair()
    conn, peer = (server, client) if role is Role.SERVER else (client, server)
    out = bytearray()
    sent: list[tuple[tuple[int, bytes], int]] = []  # (message, op index), in send order
    pongs: list[tuple[bytes, int]] = []  # (echoed value, op index of the read)
    windows: list[tuple[int, int]] = []  # (Window Ack Size value, op index of the read)
    read_spans: list[tuple[int, int, int]] = []  # (bytes_received before, after, op index)
    # §5.4.5 as an oracle for the window replies: applied limit, its type, last value announced.
    bandwidth: int | None = None
    limit: int | None = None
    announced: int | None = None
    for i, op in enumerate(ops):
        if op[0] == "drain":
            out += conn.data_to_send()
        elif op[0] == "read":
            for part in op[1]:
                kind = part[0]
                if kind == "ping":
                    peer.send(UserControl.ping_request(part[1]))
                    pongs.append((part[1].to_bytes(4, "big"), i))
                elif kind == "peer-bandwidth":
                    size, kind_ = part[1], part[2]
                    peer.send(SetPeerBandwidth(size, kind_))
                    if kind_ == LimitType.DYNAMIC and limit not in (None, LimitType.HARD):
                        continue
                    new = min(bandwidth, size) if kind_ == LimitType.SOFT and bandwidth is not None else size
                    bandwidth, limit = new, (LimitType.HARD if kind_ == LimitType.DYNAMIC else kind_)
                    if new != announced:
                        windows.append((new, i))
                        announced = new
                elif kind == "window":
                    peer.send(WindowAckSize(part[1]))
                elif kind == "media":
                    peer.send(Audio(bytes(part[1])), msid=1, timestamp=i)
                elif kind == "chunk-size":
                    peer.send(SetChunkSize(part[1]))
                else:
                    peer.send(Command("createStream", float(i), None, ("x" * part[1],)))
            data = peer.data_to_send()
            before = conn.bytes_received
            pieces = max(1, min(op[2] + 1, len(data)))  # the read may arrive in several pieces
            step = -(-len(data) // pieces)
            for off in range(0, len(data), step):
                conn.receive_data(data[off:off + step])
            read_spans.append((before, conn.bytes_received, i))
            conn.events()
        else:
            kind = op[1][0]
            msg: Message
            if kind == "command":
                msg = Command("onStatus", float(i), None, ("y" * op[1][1],))
            elif kind in ("audio", "video"):
                body = i.to_bytes(4, "big") + bytes(op[1][1])
                msg = Audio(body) if kind == "audio" else Video(body)
            elif kind == "stream-begin":
                msg = UserControl.stream_begin(i)
            elif kind == "chunk-size":
                msg = SetChunkSize(op[1][1])
            elif kind == "window":
                msg = WindowAckSize(2 * op[1][1] + 1)  # odd: the automatic replies are even
                announced = msg.size
            else:
                msg = SetPeerBandwidth(op[1][1], LimitType.DYNAMIC)
            ts = op[1][2] if kind in ("audio", "video") else 0
            conn.send(msg, msid=1 if kind in ("audio", "video") else 0, timestamp=ts)
            sent.append((encode_message(msg), i))
    out += conn.data_to_send()
    msgs, _ = _decode_chunks(bytes(out))  # pair() already took the handshake
    # Walk the output: each message is an automatic reply (Acknowledgement, PingResponse, an
    # even Window Ack Size) or the next sent message; note the op that produced it.
    sent_left, pongs_left, windows_left = list(sent), list(pongs), list(windows)
    order: list[int] = []
    for m in msgs:
        if m.type_id == 3:
            seq = int.from_bytes(m.payload, "big")
            order.append(next(i for lo, hi, i in read_spans if lo < seq <= hi))
        elif m.type_id == 4 and m.payload[:2] == b"\x00\x07":
            value, i = pongs_left.pop(0)
            assert m.payload[2:] == value
            order.append(i)
        elif m.type_id == 5 and int.from_bytes(m.payload, "big") % 2 == 0:
            value, i = windows_left.pop(0)
            assert int.from_bytes(m.payload, "big") == value
            order.append(i)
        else:
            (want, i) = sent_left.pop(0)
            assert (m.type_id, m.payload) == want  # sends appear whole and in send order
            order.append(i)
    assert sent_left == [] and pongs_left == [] and windows_left == []
    assert order == sorted(order), order  # nothing overtook what was encoded before it


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT], ids=["server", "client"])
def test_ping_after_a_command_is_answered_after_the_command(role: Role) -> None:
    """A command and then a PingRequest in one read: the caller answers the command when it takes
    its event, the PingResponse is encoded when the ping's event is taken, so the replies leave in
    the order the requests arrived (a peer takes the PingResponse as proof that everything sent
    before the ping was handled)."""
    client, server = pair()
    conn, peer = (server, client) if role is Role.SERVER else (client, server)
    peer.send(Command("createStream", 7.0, None))
    peer.send(UserControl.ping_request(0x0BADF00D))
    conn.receive_data(peer.data_to_send())
    assert conn.data_to_send() == b""  # nothing answered yet: the events are not taken
    while (ev := conn.next_event()) is not NEED_DATA:  # one event at a time, as servers do
        if isinstance(ev, MessageReceived) and isinstance(ev.message, Command):
            conn.send(Command("_result", ev.message.transaction_id, None, (1.0,)))
    peer.receive_data(conn.data_to_send())
    got = [e.message for e in peer.events() if isinstance(e, MessageReceived)]
    assert isinstance(got[0], Command) and got[0].transaction_id == 7.0
    assert got[1] == UserControl.ping_response(b"\x0b\xad\xf0\x0d")
