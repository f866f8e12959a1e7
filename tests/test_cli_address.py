"""The address ``python -m liaison.websocket`` listens on: HOST:PORT, [IPv6]:PORT or a pasted ws:// URL,
and a one-line error that fits each kind of mistake."""
import json

import pytest
import websocket

from liaison.cli import parse_address
from liaison.constants import START_MARKER


@pytest.mark.parametrize("text, address", [
    ("localhost:8001", ("localhost", 8001)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:8001", ("::1", 8001)),
    ("ws://localhost:8001", ("localhost", 8001)),
    ("ws://localhost:8001/", ("localhost", 8001)),
    ("WS://127.0.0.1:65535", ("127.0.0.1", 65535)),
    ("ws://[::1]:0", ("::1", 0)),
])
def test_accepted_addresses(text, address):
    assert parse_address(text) == address


def test_a_pasted_ws_url_starts_the_server(cli):
    server = cli("ws://127.0.0.1:0/")
    _, port = server.wait_started()
    assert server.chunks == ["{}@127.0.0.1:{}".format(START_MARKER, port)]
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)
    client.send('{"command": {"command": "ping"}}')
    assert json.loads(client.recv())["response"] == "pong"
    client.close()


@pytest.mark.parametrize("address, says", [
    ("wss://localhost:8001", "not wss://"),
    ("http://localhost:8001", "not http://"),
    ("ws://localhost:8001/socket?token=x", "without a path or query"),
    ("ws://localhost", "has no port"),
    ("nonsense", "has no port"),
    ("localhost:", "has no port"),
    ("[::1]", "has no port"),
    (":8001", "has no host"),
    ("host:port", "'port' in 'host:port' is not a port number"),
    ("localhost:８００１", "is not a port number"),
    ("localhost:70000", "out of range"),
    ("::1:80", "put an IPv6 address in brackets: [::1]:80"),
    ("[::1:80", "the whole IPv6 address in brackets"),
])
def test_each_mistake_gets_a_one_line_error_that_fits(cli, address, says):
    server = cli(address)
    assert server.process.wait(20) == 2
    assert server.process.stdout.read() == b""
    error = server.process.stderr.read().decode()
    assert "Traceback" not in error
    lines = error.splitlines()
    assert [line for line in lines if "error:" in line] == [lines[-1]]
    assert "argument address:" in lines[-1] and says in lines[-1], error
