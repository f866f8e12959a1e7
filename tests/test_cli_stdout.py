"""Served code's stdout under ``python -m liaison.websocket``: the process's stdout, as under liaison-py,
with the START marker alone in its chunk and the STOP marker whole on a line of its own."""
import json
import os
import signal

import pytest
import websocket

from conftest import say_hello
from liaison.constants import START_MARKER, STOP_MARKER

pytestmark = pytest.mark.skipif(os.name == "nt", reason="stdout is relayed where pipes can be polled")


def run(port, code, request_id="code"):
    """Connect, send a request that runs *code* with ``liaison`` in its globals, and return the connection."""
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)
    say_hello(client)  # what the command pushes arrives before its reply
    client.send(json.dumps({"command": {"command": "run", "args": ["builtins:exec", code, {"liaison": "$liaison"}]},
                            "id": request_id}))
    return client


def reply(client):
    """The next message on *client*, which must be a reply without error."""
    message = json.loads(client.recv())
    assert message["tag"] == "response", message
    return message


def read_until(server, text):
    """Read *server*'s stdout until it holds *text*; return all of it so far."""
    while text not in "".join(server.chunks):
        assert server.read_chunk(), "stdout ended before {!r}: {!r}".format(text, "".join(server.chunks))
    return "".join(server.chunks)


def read_to_end(server):
    """Read *server*'s stdout to its end; return its exit code."""
    while server.read_chunk():
        pass
    return server.process.wait(20)


def stop_marker(port):
    return "{}@127.0.0.1:{}".format(STOP_MARKER, port)


#: Prints through each way a program writes to stdout, last an unflushed partial line.
EVERY_WAY = "\n".join([
    "import os, subprocess, sys",
    "print('1 from print')",
    "sys.stdout.write('2 from sys.stdout, ')",
    "sys.stdout.flush()",
    "os.write(1, b'3 from os.write\\n')",
    "subprocess.check_call([sys.executable, '-c', 'print(\"4 from a child process\")'])",
    "sys.stdout.write('5 unflushed, no newline')",
])

PRINTED = "1 from print\n2 from sys.stdout, 3 from os.write\n4 from a child process\n5 unflushed, no newline"


def test_served_output_goes_to_stdout_in_order_and_the_stop_marker_starts_a_line(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    assert server.chunks == ["{}@127.0.0.1:{}".format(START_MARKER, port)]
    client = run(port, EVERY_WAY)
    reply(client)
    client.send('{"command": {"command": "run", "args": ["liaison.stop"]}}')
    reply(client)
    assert read_to_end(server) == 0
    assert "".join(server.chunks) == server.chunks[0] + PRINTED + "\n" + stop_marker(port)
    assert "from" not in server.process.stderr.read().decode()


def test_a_line_that_ended_gets_no_extra_newline_before_the_stop_marker(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client = run(port, "print('a whole line')\nliaison.stop()")
    reply(client)
    assert read_to_end(server) == 0
    assert "".join(server.chunks) == server.chunks[0] + "a whole line\n" + stop_marker(port)


def test_a_printed_line_shows_while_the_command_runs(cli, tmp_path):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    go_on = tmp_path / "go on"
    client = run(port, "\n".join([
        "import os, time",
        "print('waiting for the test')",
        "deadline = time.monotonic() + 20",
        "while not os.path.exists({!r}) and time.monotonic() < deadline:".format(str(go_on)),
        "    time.sleep(0.01)",
    ]))
    assert read_until(server, "waiting for the test\n").endswith("waiting for the test\n")
    go_on.touch()
    reply(client)


#: Starts a child process that inherits stdout, prints, and then keeps printing or sleeps; replies its pid.
CHILD = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {!r}])
liaison.send({{"pid": child.pid}}, client=liaison.current_client())
"""


@pytest.mark.parametrize("child_code, says", [
    ("import time\nprint('child started', flush=True)\ntime.sleep(60)", "child started\n"),
    ("print('child started', flush=True)\nwhile True:\n    print('x' * 100)", "x" * 100),
], ids=["silent", "printing without end"])
def test_a_child_holding_stdout_does_not_hold_up_stopping(cli, child_code, says):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client = run(port, CHILD.format(child_code))
    child = json.loads(client.recv())["pid"]
    try:
        reply(client)
        read_until(server, says)
        server.process.send_signal(signal.SIGTERM)
        assert read_to_end(server) == 0
    finally:
        os.kill(child, signal.SIGKILL)
    output = "".join(server.chunks)
    assert output.endswith("\n" + stop_marker(port)) and output.count(STOP_MARKER) == 1
    printed = output[len(server.chunks[0]):-len(stop_marker(port))]
    assert printed.startswith("child started\n")
    assert set(printed.splitlines()[1:]) <= {"x" * 100, "x" * (len(printed.splitlines()[-1]))}


def stubborn(first, again):
    """A command that runs *first*, says it has started, then runs *again* over and over, and neither returns nor
    lets itself be interrupted."""
    return "\n".join([
        "import sys, time",
        "started = False",
        "while True:",
        "    try:",
        "        if not started:",
        "            started = True",
        "            " + first,
        "            liaison.send({'tag': 'started'}, client=liaison.current_client())",
        "        " + again,
        "    except BaseException:",
        "        continue",
    ])


def test_a_forced_exit_flushes_output_and_writes_the_stop_marker_on_its_own_line(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client = run(port, stubborn("sys.stdout.write('an open line')", "time.sleep(1)"))
    assert json.loads(client.recv()) == {"tag": "started"}
    server.process.send_signal(signal.SIGTERM)
    assert read_to_end(server) == 0
    assert "".join(server.chunks) == server.chunks[0] + "an open line\n" + stop_marker(port)


def test_a_frontend_that_reads_no_stdout_does_not_keep_it_from_stopping(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client = run(port, stubborn("pass", "print('y' * 1000)"))
    assert json.loads(client.recv()) == {"tag": "started"}
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 0
    client.close()
    output = server.process.stdout.read().decode()
    assert output.startswith("y" * 1000 + "\n") and STOP_MARKER not in output
