"""The process lifecycle of ``python -m liaison.websocket``: parent death, signals, stuck commands."""
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest
import websocket
import interruption
from conftest import end_parent_and_child, exited, parent_id, say_hello, wait_until

from liaison.constants import START_MARKER, STOP_MARKER
from liaison.lifecycle import PARENT_POLL

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and process ids")

# A frontend stand-in: starts the server with its stdout on the test's pipe, tells its id, then waits to die.
PARENT = """
import subprocess, sys
fd = int(sys.argv[1])
child = subprocess.Popen([sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"] + sys.argv[2:],
                         stdout=fd, pass_fds=(fd,))
print(child.pid, flush=True)
sys.stdin.read()
"""


def read_chunk(fd, timeout=20):
    ready, _, _ = select.select([fd], [], [], timeout)
    assert ready, "nothing on the pipe within {} s".format(timeout)
    return os.read(fd, 65536).decode()


def port_of(marker):
    assert marker.startswith(START_MARKER + "@127.0.0.1:"), marker
    return int(marker.rpartition(":")[2])


@pytest.fixture
def orphan():
    """Start a parent process that starts the server; yield (parent, child pid, read end of the child's stdout)."""
    started = []

    def start(*options):
        read, write = os.pipe()
        parent = subprocess.Popen([sys.executable, "-c", PARENT, str(write)] + list(options),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(write,))
        os.close(write)
        child = int(parent.stdout.readline())
        started.append((parent, child, read))
        return parent, child, read

    yield start
    for parent, child, read in started:
        end_parent_and_child(parent, child)
        os.close(read)


def test_server_stops_when_its_parent_dies(orphan):
    parent, child, read = orphan()
    port = port_of(read_chunk(read))
    parent.kill()
    parent.wait()
    assert read_chunk(read) == "{}@127.0.0.1:{}".format(STOP_MARKER, port)
    assert read_chunk(read) == ""
    wait_until(lambda: exited(child))


def test_no_parent_watch_keeps_serving_after_the_parent_dies(orphan):
    parent, child, read = orphan("--no-parent-watch")
    port = port_of(read_chunk(read))
    parent.kill()
    parent.wait()
    wait_until(lambda: parent_id(child) != parent.pid)
    time.sleep(3 * PARENT_POLL)  # a watcher, had there been one, would have stopped the server by now
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)
    client.send('{"command": {"command": "ping"}}')
    assert json.loads(client.recv())["response"] == "pong"
    os.kill(child, signal.SIGTERM)
    assert read_chunk(read) == "{}@127.0.0.1:{}".format(STOP_MARKER, port)


#: A command that neither returns nor lets itself be interrupted; it says when it has started.
STUBBORN = json.dumps(interruption.run_code(interruption.STUBBORN, "stuck"))


def start_stuck_command(port, request='{"command": {"command": "run", "args": ["time:sleep", 60]}, "id": "stuck"}'):
    """Connect and start a command that does not return for a minute; return the connection."""
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)
    say_hello(client)
    client.send(request)
    if request == STUBBORN:
        assert json.loads(client.recv()) == {"tag": "started"}
    else:
        client.send('{"command": {"command": "ping"}, "id": "ping"}')
        assert json.loads(client.recv())["evt"]["id"] == "ping"
    return client


@pytest.mark.parametrize("request_text", [
    '{"command": {"command": "run", "args": ["time:sleep", 60]}, "id": "stuck"}', STUBBORN,
], ids=["sleeping", "ignoring interruptions"])
def test_a_command_that_never_returns_does_not_prevent_stopping(cli, request_text):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client = start_stuck_command(port, request_text)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_stopped() == 0
    assert time.monotonic() - started < 5
    assert server.chunks[-2] == "{}@127.0.0.1:{}".format(STOP_MARKER, port)
    opcode, data = client.recv_data(control_frame=True)
    if opcode == websocket.ABNF.OPCODE_TEXT:  # the interrupted command's reply may come first
        reply = json.loads(data)
        assert reply["evt"]["id"] == "stuck" and reply["tag"] == "error"
        opcode, data = client.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1001).to_bytes(2, "big")


def test_second_sigint_during_a_stuck_shutdown_exits_at_once(cli):
    server = cli("127.0.0.1:0", "--log-level", "INFO")
    _, port = server.wait_started()
    start_stuck_command(port, STUBBORN)
    server.process.send_signal(signal.SIGINT)
    log = b""
    while b"stopping on signal" not in log:
        ready, _, _ = select.select([server.process.stderr], [], [], 20)
        assert ready, log
        log += os.read(server.process.stderr.fileno(), 65536)
    started = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(20) == 128 + signal.SIGINT, server.process.stderr.read()
    assert time.monotonic() - started < 2


def test_help_lists_every_option_with_its_default():
    help_text = subprocess.check_output([sys.executable, "-m", "liaison.websocket", "--help"]).decode()
    entries = [" ".join(entry.split()) for entry in re.findall(r"^  \S.*(?:\n   +\S.*)*", help_text, re.M)]
    assert len(entries) >= 5 and entries[0].startswith("address")
    assert any(entry.startswith("--no-parent-watch") for entry in entries)
    for entry in entries:
        if not entry.startswith(("-h", "--version")):
            assert "(default: " in entry, entry
