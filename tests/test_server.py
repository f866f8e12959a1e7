"""The threaded websocket server: many clients, one lock, socketserver-style lifecycle."""
import json
import socket
import subprocess
import sys
import threading

import pytest
import websocket

from conftest import drive_together
from liaison import Companion
from liaison.websocket import WebsocketLiaison


class Tracker:
    """Counts how many commands run inside the Companion at the same moment."""

    def __init__(self):
        self.active = 0
        self.most = 0
        self.calls = 0

    def enter(self, token):
        self.active += 1
        self.most = max(self.most, self.active)
        for _ in range(2000):
            self.calls += 0
        self.calls += 1
        self.active -= 1
        return token


def assert_closed(ws, code):
    """The next frame is a close frame with *code*."""
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == code


def test_server_address_reports_the_real_port(server):
    host, port = server.server_address[:2]
    assert host == "127.0.0.1" and port > 0


def test_sixty_four_clients_at_once(server, connect):
    clients = [connect(server) for _ in range(64)]
    for index, client in enumerate(clients):
        client.ws.send(json.dumps({"command": {"command": "run", "args": ["builtins:abs", -index]}, "id": index}))
    for index, client in enumerate(clients):
        reply = json.loads(client.ws.recv())
        assert reply["evt"]["id"] == index and reply["response"] == index
    assert len(server.clients) == 64


def test_commands_never_run_inside_the_companion_at_once(make_server, connect):
    tracker = Tracker()
    server = make_server(Companion({"tracker": tracker}))
    clients = [connect(server) for _ in range(8)]

    def drive(client, number):
        for call in range(25):
            token = "{}-{}".format(number, call)
            assert client.call("run", "tracker.enter", token) == token

    assert not drive_together(clients, drive)
    assert tracker.calls == 200
    assert tracker.most == 1


def test_ping_is_answered_while_another_command_holds_the_companion(make_server, connect):
    release = threading.Event()
    server = make_server(Companion({"release": release}))
    busy, other = connect(server), connect(server)
    busy.ws.send(json.dumps({"command": {"command": "run", "args": ["release.wait", 30]}, "id": "long"}))
    try:
        assert other.call("ping") == "pong"
        assert not release.is_set()
    finally:
        release.set()
    assert json.loads(busy.ws.recv())["evt"]["id"] == "long"


def test_stop_from_inside_a_command_replies_then_closes(make_server, connect):
    server = make_server()
    client, bystander = connect(server), connect(server)
    port = server.server_address[1]
    assert client.call("run", "liaison.stop") is None
    assert_closed(client.ws, 1001)
    assert_closed(bystander.ws, 1001)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_shutdown_from_another_thread_and_context_manager():
    with WebsocketLiaison("127.0.0.1", 0) as server:
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=10)
        client.send('{"command": {"command": "ping"}}')
        assert json.loads(client.recv())["response"] == "pong"
        server.shutdown()
        thread.join(10)
        assert not thread.is_alive()
    assert_closed(client, 1001)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_stop_before_serving_and_twice():
    server = WebsocketLiaison("127.0.0.1", 0)
    server.stop()
    server.stop()
    server.serve_forever()


def test_plain_http_request_is_refused_and_server_keeps_serving(server, client):
    port = server.server_address[1]
    for request, status in [
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"426"),
        (b"POST / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"405"),
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Version: 13\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", b"426"),
        (b"garbage\r\n\r\n", b"400"),
    ]:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(request)
            assert raw.recv(4096).split()[1] == status
    assert client.call("ping") == "pong"


def test_importing_liaison_leaves_logging_alone():
    code = "import logging, liaison.websocket; print(len(logging.getLogger().handlers))"
    assert subprocess.check_output([sys.executable, "-c", code]).strip() == b"0"


def test_stop_does_not_wait_for_a_client_that_stopped_reading(make_server, connect):
    server = make_server(Companion({"big": "x" * (32 << 20)}))
    client = connect(server)
    client.ws.send('{"command": {"command": "get", "args": ["big"]}}')
    client.ws.sock.recv(16)  # the reply has started; from now on the client reads nothing
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(15)
    assert not stopper.is_alive()
