"""RFC 6455 on the wire: hand-built frames over a raw socket, and what the server answers."""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading

import numpy
import pytest
import websocket

import message_schema
from conftest import closing_all
from rawclient import header


TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
PING_REQUEST = json.dumps({"command": {"command": "ping"}, "id": 1}).encode()


def mask_payload(payload, mask):
    """The client side of masking, done with numpy so that large payloads stay fast."""
    padded = numpy.frombuffer(payload + bytes(-len(payload) % 4), numpy.uint32)
    return (padded ^ numpy.frombuffer(mask, numpy.uint32)[0]).tobytes()[:len(payload)]


class RawClient:
    """A websocket client that writes frames byte by byte as a test builds them, to a server or a port."""

    def __init__(self, server):
        port = server if isinstance(server, int) else server.server_address[1]
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert self.file.readline().startswith(b"HTTP/1.1 101 ")
        while self.file.readline() != b"\r\n":
            pass

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, masked=True, length=None):
        """Send one frame; *length* overrides the length the header announces."""
        head = header(opcode, len(payload) if length is None else length, fin, rsv, masked)
        if masked:
            mask = os.urandom(4)
            head += mask
            payload = mask_payload(payload, mask)
        self.sock.sendall(head + payload)

    def recv_frame(self):
        """Read one server frame: ``(fin, opcode, payload)``; a whole message is checked against the schema."""
        first, second = self.file.read(2)
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            length, = struct.unpack("!H", self.file.read(2))
        elif length == 127:
            length, = struct.unpack("!Q", self.file.read(8))
        payload = self.file.read(length)
        assert len(payload) == length
        if first & 0x80 and first & 0x0F in (TEXT, BINARY):
            message_schema.check_received(payload)
        return bool(first & 0x80), first & 0x0F, payload

    def recv_reply(self):
        fin, opcode, payload = self.recv_frame()
        assert (fin, opcode) == (True, TEXT)
        return json.loads(payload.decode("utf-8"))

    def expect_close(self, code):
        """The next frame closes with *code*, then the server ends the connection."""
        fin, opcode, payload = self.recv_frame()
        assert opcode == CLOSE, payload
        assert struct.unpack("!H", payload[:2])[0] == code, payload
        assert self.file.read(1) == b""

    def close(self):
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw():
    """Open raw clients to a server; all are closed after the test."""
    yield from closing_all(RawClient)


def still_serving(server, raw):
    """A new client connects and gets its reply."""
    client = raw(server)
    client.send_frame(TEXT, PING_REQUEST)
    return client.recv_reply()["response"] == "pong"


def test_fragmented_text_is_reassembled(server, raw):
    client = raw(server)
    message = json.dumps({"command": {"command": "run", "args": ["builtins:str", "héllo ✓"]}, "id": 2},
                         ensure_ascii=False).encode()
    cut = message.index("é".encode()) + 1
    client.send_frame(TEXT, message[:cut], fin=False)
    client.send_frame(CONTINUATION, message[cut:cut + 5], fin=False)
    client.send_frame(CONTINUATION, message[cut + 5:])
    assert client.recv_reply()["response"] == "héllo ✓"
    assert still_serving(server, raw)


def test_ping_between_fragments_is_answered_first(server, raw):
    client = raw(server)
    client.send_frame(TEXT, PING_REQUEST[:10], fin=False)
    client.send_frame(PING, b"are you there")
    assert client.recv_frame() == (True, PONG, b"are you there")
    client.send_frame(PONG, b"unsolicited")
    client.send_frame(CONTINUATION, PING_REQUEST[10:])
    assert client.recv_reply()["response"] == "pong"
    assert still_serving(server, raw)


def test_binary_frame_with_json_is_answered(server, raw):
    client = raw(server)
    client.send_frame(BINARY, PING_REQUEST)
    assert client.recv_reply()["response"] == "pong"
    assert still_serving(server, raw)


def test_oversized_length_header_closes_with_1009_before_any_payload(make_server, raw):
    server = make_server(max_size=1000)
    client = raw(server)
    client.send_frame(TEXT, b"", length=1 << 40)
    client.expect_close(1009)
    assert still_serving(server, raw)


def test_oversized_message_in_transit_still_gets_its_close_frame(make_server, raw):
    server = make_server(max_size=1000)
    client = raw(server)
    sender = threading.Thread(target=client.send_frame, args=(TEXT, b" " * (8 << 20)))
    sender.start()
    fin, opcode, payload = client.recv_frame()
    assert (opcode, payload[:2]) == (CLOSE, struct.pack("!H", 1009))
    sender.join(30)
    assert not sender.is_alive()
    client.sock.shutdown(socket.SHUT_WR)
    assert client.file.read(1) == b""
    assert still_serving(server, raw)


def test_fragments_over_the_limit_together_close_with_1009(make_server, raw):
    server = make_server(max_size=1000)
    client = raw(server)
    client.send_frame(TEXT, b" " * 600, fin=False)
    client.send_frame(CONTINUATION, b" " * 600)
    client.expect_close(1009)
    assert still_serving(server, raw)


def test_message_at_the_limit_is_answered(make_server, raw):
    server = make_server(max_size=len(PING_REQUEST))
    client = raw(server)
    client.send_frame(TEXT, PING_REQUEST)
    assert client.recv_reply()["response"] == "pong"


def test_invalid_utf8_text_closes_with_1007(server, raw):
    client = raw(server)
    client.send_frame(TEXT, b'{"command": "\xff"}')
    client.expect_close(1007)
    assert still_serving(server, raw)


@pytest.mark.parametrize("frame", [
    {"opcode": TEXT, "payload": PING_REQUEST, "masked": False},
    {"opcode": TEXT, "payload": PING_REQUEST, "rsv": 0b100},
    {"opcode": TEXT, "payload": PING_REQUEST, "rsv": 0b001},
    {"opcode": 0x3, "payload": PING_REQUEST},
    {"opcode": 0xB, "payload": b""},
    {"opcode": CONTINUATION, "payload": PING_REQUEST},
    {"opcode": PING, "payload": b"x" * 126},
    {"opcode": PING, "payload": b"x", "fin": False},
], ids=["unmasked", "rsv1", "rsv3", "data-opcode-3", "control-opcode-B", "lone-continuation",
        "long-ping", "fragmented-ping"])
def test_protocol_violations_close_with_1002(server, raw, frame):
    client = raw(server)
    client.send_frame(**frame)
    client.expect_close(1002)
    assert still_serving(server, raw)


def test_new_message_inside_a_fragmented_one_closes_with_1002(server, raw):
    client = raw(server)
    client.send_frame(TEXT, PING_REQUEST[:5], fin=False)
    client.send_frame(TEXT, PING_REQUEST)
    client.expect_close(1002)
    assert still_serving(server, raw)


@pytest.mark.parametrize("payload, code", [
    (struct.pack("!H", 1000) + b"bye", 1000),
    (struct.pack("!H", 4321), 4321),
    (b"\x03", 1002),
    (struct.pack("!H", 1005), 1002),
    (struct.pack("!H", 1000) + b"\xff", 1007),
])
def test_close_frame_is_echoed_or_answered_with_an_error_code(server, raw, payload, code):
    client = raw(server)
    client.send_frame(CLOSE, payload)
    client.expect_close(code)
    assert still_serving(server, raw)


def test_empty_close_frame_gets_an_empty_close_frame(server, raw):
    client = raw(server)
    client.send_frame(CLOSE)
    assert client.recv_frame() == (True, CLOSE, b"")
    assert client.file.read(1) == b""
    assert still_serving(server, raw)


def test_fifty_megabytes_round_trip_intact(make_server, raw):
    server = make_server(max_size=60 * 1024 * 1024)
    client = raw(server)
    text = "".join(chr(0x21 + index % 90) for index in range(1000)) * 50000 + "✓"
    message = json.dumps({"command": {"command": "run", "args": ["builtins:str", text]}, "id": 7},
                         ensure_ascii=False).encode()
    client.send_frame(TEXT, message)
    fin, opcode, payload = client.recv_frame()
    assert (fin, opcode) == (True, TEXT)
    assert len(payload) > 50 * 1000 * 1000
    assert json.loads(payload.decode("utf-8"))["response"] == text


def next_non_ping(client, answer):
    """The next frame that is not a server ping, answering pings on the way if *answer*."""
    while True:
        frame = client.recv_frame()
        if frame[1] != PING:
            return frame
        if answer:
            client.send_frame(PONG, frame[2])


def test_client_that_never_answers_pings_is_dropped(make_server, raw):
    server = make_server(ping_interval=0.3)
    client = raw(server)
    assert client.recv_frame()[:2] == (True, PING)
    assert client.file.read(1) == b""
    assert still_serving(server, raw)


def test_client_that_answers_pings_stays(make_server, raw):
    server = make_server(ping_interval=0.2)
    client = raw(server)
    for _ in range(3):
        fin, opcode, payload = client.recv_frame()
        assert (fin, opcode) == (True, PING)
        client.send_frame(PONG, payload)
    client.send_frame(TEXT, PING_REQUEST)
    assert json.loads(next_non_ping(client, answer=True)[2])["response"] == "pong"


def test_pings_during_a_long_command_are_answered_and_the_reply_arrives(make_server, raw):
    server = make_server(ping_interval=0.2)
    client = raw(server)
    client.send_frame(TEXT, json.dumps({"command": {"command": "run", "args": ["time:sleep", 0.7]}}).encode())
    assert client.recv_frame()[:2] == (True, PING)
    client.send_frame(PONG, b"")
    assert json.loads(next_non_ping(client, answer=True)[2])["tag"] == "response"


def test_websocket_client_answers_pings_and_stays(make_server, connect):
    server = make_server(ping_interval=0.2)
    client = connect(server)
    for _ in range(3):
        opcode, frame = client.ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PING
    assert client.call("ping") == "pong"


def test_command_line_max_size_and_ping_interval(cli, raw):
    server = cli("127.0.0.1:0", "--max-size", "100", "--ping-interval", "0.3")
    _, port = server.wait_started()
    client = raw(port)
    client.send_frame(TEXT, b" " * 101)
    client.expect_close(1009)
    silent = raw(port)
    assert silent.recv_frame()[:2] == (True, PING)
    assert silent.file.read(1) == b""
    assert still_serving(port, raw)


@pytest.mark.parametrize("option, value", [
    ("--max-size", "0"), ("--max-size", "1.5"), ("--ping-interval", "-1"), ("--ping-interval", "nan"),
    ("--ping-interval", "inf"),
])
def test_command_line_refuses_sizes_and_intervals_that_are_not_positive(option, value):
    process = subprocess.Popen([sys.executable, "-m", "liaison.websocket", option, value],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2 and out == b""
    assert "positive" in err.decode()
