"""Issue 12, rule 5: served code cannot corrupt the channel.

Over stdio, stdout carries nothing but liaison's own output, the markers and
the messages: whatever served code prints, or a subprocess it starts writes to
file descriptor 1, goes to stderr. Over a websocket, stdout is served code's
between the markers (issue 19), and the STOP marker still comes whole and last.
"""
import os
import select
import signal
import subprocess
import sys

import message_schema
from conftest import reap
from liaison.constants import START_MARKER, STOP_MARKER
from rawclient import Raw, request

ZEN = "Beautiful is better than ugly."


def test_over_a_websocket_served_output_goes_to_stdout_and_the_real_stop_marker_comes_last(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    forged = "{}@127.0.0.1:{}".format(STOP_MARKER, port)
    client = Raw(port)
    assert client.call("run", "builtins:print", forged)["tag"] == "response"
    assert client.call("exists", "this")["response"] is True  # importing `this` prints the Zen of Python
    assert client.call("run", "os:system", "echo written-to-fd-1-by-a-subprocess")["response"] == 0
    assert client.call("run", "liaison.stop")["tag"] == "response"
    while server.read_chunk():
        pass
    assert server.process.wait(20) == 0
    output = "".join(server.chunks)
    assert server.chunks[0] == "{}@127.0.0.1:{}".format(START_MARKER, port) and output.endswith("\n" + forged)
    printed = output[len(server.chunks[0]):-len(forged)]
    assert printed.startswith(forged + "\n") and printed.endswith("written-to-fd-1-by-a-subprocess\n")
    assert ZEN in printed and forged not in server.process.stderr.read().decode()


def stdio_server(*options):
    return subprocess.Popen([sys.executable, "-m", "liaison.stdio"] + list(options), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_over_stdio_served_code_prints_to_stderr_and_stdout_holds_only_markers_and_messages():
    process = stdio_server()
    forged = "{}@stdio".format(STOP_MARKER)
    lines = [request("run", "builtins:print", forged, id=1), request("exists", "this", id=2),
             request("run", "os:system", "echo written-to-fd-1-by-a-subprocess", id=3)]
    try:
        out, err = process.communicate(b"\n".join(lines) + b"\n", timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    lines = out.decode("utf-8").split("\n")
    assert lines[0] == "{}@stdio".format(START_MARKER) and lines[-2:] == ["{}@stdio".format(STOP_MARKER), ""]
    replies = [message_schema.check(line) for line in lines[1:-2]]
    assert [(reply["evt"]["id"], reply["tag"]) for reply in replies] == [(1, "response"), (2, "response"),
                                                                            (3, "response")]
    errors = err.decode()
    assert forged in errors and ZEN in errors and "written-to-fd-1-by-a-subprocess" in errors


def read_chunk(process, timeout=20):
    """The next chunk the process writes to stdout."""
    assert select.select([process.stdout], [], [], timeout)[0], "nothing on stdout within {} s".format(timeout)
    return os.read(process.stdout.fileno(), 65536).decode()


def test_the_command_line_exits_0_quietly_when_nobody_reads_its_stdout_any_more():
    process = subprocess.Popen([sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_chunk(process).startswith(START_MARKER + "@")
        process.stdout.close()  # the frontend that read it is gone
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        errors = process.stderr.read().decode()
    finally:
        reap(process)
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors


def test_over_stdio_the_server_exits_0_quietly_when_nobody_reads_its_stdout_any_more():
    process = stdio_server()
    try:
        assert process.stdout.readline() == "{}@stdio\n".format(START_MARKER).encode()
        process.stdout.close()
        process.stdin.write(request("ping", id=1) + b"\n")
        process.stdin.close()
        assert process.wait(20) == 0
        errors = process.stderr.read().decode()
    finally:
        reap(process)
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors
