"""Issue 20, cases 12 and 13: a client that breaks the protocol still gets what it is owed, so that no
call of its waits for ever: a refused request's reply names its id, and what came before a bad frame
is answered before the connection fails."""
import time

import pytest

from liaison import RemoteError
from liaison.client import connect, spawn
from liaison.server import DEFAULT_MAX_SIZE
from rawclient import CLOSE, CONTINUATION, PING, TEXT, Raw, close_code, frame, header, request


def nested(depth):
    return "[" * depth + "]" * depth


def nested_list(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("argument", [nested(600), "7" * 5000, "NaN", "-Infinity"],
                         ids=["nested 600 deep", "5000 digits", "NaN", "-Infinity"])
def test_12_a_request_refused_for_what_it_holds_echoes_its_id(server, argument):
    client = Raw(server.server_address[1])
    client.send_text(b'{"command": {"command": "run", "args": ["builtins:len", ' + argument.encode() +
                     b']}, "id": "refused"}')
    reply = client.reply(timeout=5)
    assert reply["tag"] == "error" and reply["exception"]["type"] == "ProtocolError", reply
    assert reply["evt"] == {"id": "refused"}
    assert client.call("ping")["response"] == "pong"


def test_12_the_python_clients_call_fails_at_once_when_the_server_refuses_its_request(server):
    client = connect("127.0.0.1:{}".format(server.server_address[1]), timeout=10)
    try:
        started = time.monotonic()
        with pytest.raises(ValueError, match="nests arrays and objects more than the 100 levels"):
            client.call("run", ["builtins:len", nested_list(600)], timeout=5)  # the client knows the limit
        with pytest.raises(RemoteError) as refused:
            client.call("run", ["math:isnan", float("nan")], timeout=5)  # json.dumps writes NaN: the server refuses
        assert refused.value.type == "ProtocolError"
        assert time.monotonic() - started < 2
        assert client.call("ping", timeout=5) == "pong"
    finally:
        client.close()


def test_12_the_python_clients_stdio_call_fails_at_once_when_its_request_is_refused():
    with spawn(transport="stdio", timeout=10) as client:
        started = time.monotonic()
        with pytest.raises(ValueError, match=r"more than the \d+ the server takes \(its --max-size\)"):
            client.call("run", ["builtins:len", "x" * (DEFAULT_MAX_SIZE + 1)], timeout=5)  # the client knows the limit
        with pytest.raises(RemoteError) as refused:
            client.call("run", ["math:isnan", float("nan")], timeout=5)  # the server refuses the line
        assert refused.value.type == "ProtocolError"
        assert time.monotonic() - started < 4
        assert client.call("ping", timeout=5) == "pong"


#: Frames that break RFC 6455, after a text message, as Autobahn's cases send them.
BAD_FRAMES = {
    "3.2 reserved bit 2": header(TEXT, 5, rsv=2) + b"\0\0\0\0hello",
    "3.3 reserved bit 1 with ping": header(TEXT, 5, rsv=1) + b"\0\0\0\0hello" + frame(PING),
    "4.1.3 reserved opcode 5": frame(0x5, b"x"),
    "4.2.3 reserved control opcode 11": frame(0xB, b"x"),
    "5.15 continuation after the final fragment": frame(CONTINUATION, b"me", fin=False) + frame(TEXT, b"nt"),
}


@pytest.mark.parametrize("bad", sorted(BAD_FRAMES))
def test_13_requests_received_before_a_bad_frame_are_answered_then_the_connection_fails(server, bad):
    client = Raw(server.server_address[1], timeout=5)
    client.send(frame(TEXT, request("run", "time:sleep", 0.3, id="before")) +
                frame(TEXT, request("run", "math:fabs", -2, id="also before")) + BAD_FRAMES[bad] +
                frame(TEXT, request("run", "math:fabs", -3, id="after")))
    frames = []
    while not frames or frames[-1][0] != CLOSE:
        _, opcode, payload = client.recv_frame()
        frames.append((opcode, payload))
    assert [opcode for opcode, _ in frames] == [TEXT, TEXT, CLOSE], frames
    assert b'"before"' in frames[0][1] and b'"also before"' in frames[1][1]
    assert close_code(frames[2][1]) == 1002
