"""``python -m liaison.websocket`` and ``python -m liaison.constants`` as a frontend runs them."""
import json
import signal
import socket
import subprocess
import sys

import pytest
import websocket

from liaison import __version__
from liaison.constants import START_MARKER, STOP_MARKER


def test_constants_module_prints_the_markers():
    output = subprocess.check_output([sys.executable, "-m", "liaison.constants"])
    assert output.decode().strip() == (
        '{"START_MARKER": "LIAISON:CONNECTED", "STOP_MARKER": "LIAISON:DISCONNECTED"}')
    assert (START_MARKER, STOP_MARKER) == ("LIAISON:CONNECTED", "LIAISON:DISCONNECTED")


def connect(port):
    return websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)


def test_markers_and_stop_command(cli):
    server = cli("127.0.0.1:0")
    host, port = server.wait_started()
    assert server.chunks == ["{}@127.0.0.1:{}".format(START_MARKER, port)]
    client = connect(port)
    client.send(json.dumps({"command": {"command": "run", "args": ["math:sqrt", 81]}, "id": 1}))
    assert json.loads(client.recv())["response"] == 9.0
    client.send(json.dumps({"command": {"command": "run", "args": ["liaison.stop"]}, "id": 2}))
    assert json.loads(client.recv()) == {
        "response": None, "tag": "response",
        "evt": {"command": {"command": "run", "args": ["liaison.stop"]}, "id": 2}}
    assert server.wait_stopped() == 0
    assert "".join(server.chunks) == "{}@127.0.0.1:{}{}@127.0.0.1:{}".format(START_MARKER, port, STOP_MARKER, port)


def test_marker_shows_the_host_as_given(cli):
    server = cli("localhost:0")
    _, port = server.wait_started()
    assert server.chunks == ["{}@localhost:{}".format(START_MARKER, port)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_gracefully(cli, signum):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client = connect(port)
    server.process.send_signal(signum)
    assert server.wait_stopped() == 0
    opcode, data = client.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1001).to_bytes(2, "big")
    assert server.chunks[-2] == "{}@127.0.0.1:{}".format(STOP_MARKER, port)


def test_port_in_use_is_a_one_line_error(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = cli("127.0.0.1:{}".format(port))
        assert server.process.wait(20) != 0
        assert server.process.stdout.read() == b""
        error = server.process.stderr.read().decode()
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "cannot listen on 127.0.0.1:{}".format(port) in error


@pytest.mark.parametrize("address", ["nonsense", "host:port", "localhost:70000", ":8001", "::1:80"])
def test_malformed_address_is_a_short_error(cli, address):
    server = cli(address)
    assert server.process.wait(20) == 2
    assert server.process.stdout.read() == b""
    error = server.process.stderr.read().decode()
    assert "Traceback" not in error and "address" in error


def test_ipv6_address_in_brackets(cli):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    server = cli("[::1]:0")
    chunk = server.read_chunk()
    if not chunk.startswith(START_MARKER):
        pytest.skip("cannot bind ::1 here")
    port = int(chunk.rpartition(":")[2])
    assert chunk == "{}@[::1]:{}".format(START_MARKER, port)
    client = websocket.create_connection("ws://[::1]:{}".format(port), timeout=20)
    client.send('{"command": {"command": "ping"}}')
    assert json.loads(client.recv())["response"] == "pong"


def test_help_and_version():
    help_text = subprocess.check_output([sys.executable, "-m", "liaison.websocket", "--help"]).decode()
    assert "localhost:8001" in help_text and "--log-level" in help_text
    version = subprocess.check_output([sys.executable, "-m", "liaison.websocket", "--version"]).decode()
    assert __version__ in version


def test_logs_go_to_stderr_only(cli):
    server = cli("127.0.0.1:0", "--log-level", "DEBUG")
    _, port = server.wait_started()
    client = connect(port)
    client.send('{"command": {"command": "run", "args": ["liaison.stop"]}}')
    client.recv()
    assert server.wait_stopped() == 0
    assert len(server.chunks) == 3
    assert "client 1 connected" in server.process.stderr.read().decode()
