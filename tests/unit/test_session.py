"""The Connection front object and typed messages."""

from __future__ import annotations

import struct

import pytest

from rtmpconf.rtmp.errors import LocalProtocolError, RemoteProtocolError
from rtmpconf.rtmp.messages import (
    Acknowledgement, Aggregate, Audio, Command, Data, SetChunkSize, SetPeerBandwidth, UserControl,
    UserControlEvent, WindowAckSize, decode_message, encode_message,
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

