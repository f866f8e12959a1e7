"""``python -m liaison.stdio`` driven as a parent process drives it: real pipes, one JSON message per line."""
import json
import os
import signal
import subprocess
import sys
import time
import traceback

import pytest
from conftest import end_parent_and_child, exited, parent_id, wait_until
from stdioserver import START_LINE, STOP_LINE, Lines

from liaison.lifecycle import PARENT_POLL

def exec_request(code, request_id):
    """A request that runs *code* with ``liaison`` (the server) in its globals."""
    return json.dumps({"command": {"command": "run", "args": ["builtins:exec", code, {"liaison": "$liaison"}]},
                       "id": request_id}).encode() + b"\n"


def start_long_command(server, seconds):
    """Start a command that sleeps *seconds* and wait until it runs; return its request id."""
    code = "import time\nliaison.send({'tag': 'started'}, client=liaison.current_client())\ntime.sleep(%s)" % seconds
    server.hello()
    server.write(exec_request(code, "long"))
    assert server.message() == {"tag": "started"}
    return "long"


def test_markers_are_the_first_and_last_lines(stdio):
    server = stdio()
    assert server.call("ping") == "pong"
    server.close_stdin()
    assert server.wait_stopped() == 0


def test_every_command(stdio):
    server = stdio()
    assert server.call("ping") == "pong"
    assert server.call("run", "math:pow", 2, 10) == 1024
    assert server.call("store", "data", {"a": [1, 2], "text": "日本語 ✓"}) == "data"
    assert server.call("get", 'data["a"][1]') == 2
    assert server.call("get", 'data["text"]') == "日本語 ✓"
    assert server.call("exists", "data") is True
    assert server.call("exists", "nothing_here") is False
    assert server.call("init", "f", "fractions:Fraction", 3, 4) == "f"
    assert server.call("get", "f.denominator") == 4
    assert server.call("register", "root", "math:sqrt") == "root"
    assert server.call("run", "root", 16) == 4.0
    assert server.call("try", "math:sqrt", 9) == {"success": True, "result": 3.0}
    assert server.call("try", "math:sqrt", -1)["success"] is False


def test_pipelined_requests_are_answered_in_order(stdio):
    server = stdio()
    requests = []
    for number in range(200):  # more than a session's inbox holds
        if number % 7 == 3:
            command = {"command": "explode"}
        else:
            command = {"command": "run", "args": ["operator:mul", number, 3]}
        requests.append({"command": command, "id": number})
    server.write(b"".join(json.dumps(request).encode() + b"\n" for request in requests))
    for request in requests:
        reply = server.reply_to(request)
        if request["command"]["command"] == "explode":
            assert reply["tag"] == "error"
        else:
            assert reply["response"] == request["id"] * 3


def test_ping_is_answered_while_a_long_command_runs(stdio):
    server = stdio()
    start_long_command(server, 3)
    sent = time.monotonic()
    ping = server.send("ping")
    assert server.reply_to(ping)["response"] == "pong"
    assert time.monotonic() - sent < 1
    reply = server.message()
    assert reply["tag"] == "response" and reply["evt"]["id"] == "long"


def test_commands_run_on_the_main_thread(stdio):
    server = stdio()
    assert "MainThread" in server.call("run", "threading:current_thread")
    assert server.call("init", "thread", "threading:current_thread") == "thread"
    assert server.call("get", "thread.name") == "MainThread"


def test_pushed_messages_arrive_as_sent_before_the_reply_once_hello_asked_for_it(stdio):
    server = stdio()
    server.hello()
    alert = {"tag": "alert", "message": {"level": "warning", "text": "ünïcode ✓", "values": [1, 2.5, None, True]}}
    request = server.send("run", "liaison.send", alert)
    assert server.message() == alert
    assert server.reply_to(request)["response"] == 1


def test_pushed_messages_arrive_after_the_reply_as_liaison_py_sent_them(stdio):
    server = stdio()
    alert = {"tag": "alert", "message": "low frame rate"}
    request = server.send("run", "liaison.send", alert)
    assert server.reply_to(request)["response"] == 1
    assert server.message() == alert


@pytest.mark.parametrize("pushed, received", [
    ('{\n  "tag": "alert",\r\n  "message": "two\\nlines"\n}', {"tag": "alert", "message": "two\nlines"}),
    ("not JSON,\njust text\r\n", "not JSON,\njust text\r\n"),
], ids=["JSON text", "plain text"])
def test_a_pushed_str_with_newlines_arrives_as_one_line(stdio, pushed, received):
    server = stdio()
    request = server.send("run", "liaison.send", pushed)
    assert server.reply_to(request)["response"] == 1
    assert server.message() == received


def test_a_request_with_carriage_returns_gets_a_one_line_reply(stdio):
    server = stdio()
    server.write(b'{"command":\r {"command": "run",\r "args": ["operator:add", "a\\r\\n", "b"]},\r "id": "cr"}\r\n')
    reply = server.message()
    assert reply["response"] == "a\r\nb"
    assert reply["evt"] == {"command": {"command": "run", "args": ["operator:add", "a\r\n", "b"]}, "id": "cr"}


@pytest.mark.parametrize("line, evt", [
    (b"this is not JSON", None),
    (b"\xff\xfe not UTF-8", None),
    (b"[1, 2, 3]", [1, 2, 3]),
    (b'{"command": {"command": "explode"}, "id": 7}', {"command": {"command": "explode"}, "id": 7}),
    (b'{"command": {"command": "get"}, "id": 8}', {"command": {"command": "get"}, "id": 8}),
    (b'{"command": {"command": "run", "args": "math:pi"}, "id": 9}',
     {"command": {"command": "run", "args": "math:pi"}, "id": 9}),
    (b'{"command": {"command": "run", "args": ["math:nope"]}, "id": 10}',
     {"command": {"command": "run", "args": ["math:nope"]}, "id": 10}),
], ids=["not JSON", "not UTF-8", "not an object", "unknown command", "missing argument", "args not a list",
        "bad target"])
def test_errors_are_replies_and_the_server_keeps_serving(stdio, line, evt):
    server = stdio()
    server.write(line + b"\n")
    reply = server.message()
    assert reply["tag"] == "error" and "error" in reply
    assert reply["evt"] == evt
    assert server.call("ping") == "pong"


def test_error_replies_are_what_python_prints_less_liaisons_frames(stdio):
    server = stdio()
    reply = server.error("run", "json:loads", "{x")
    try:
        json.loads("{x")
    except ValueError as error:
        expected = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
    assert reply["error"] == expected
    assert reply["error"][1].startswith('  File "{}", line '.format(json.__file__))
    assert server.error("run", "math:sqrtt")["error"] == [
        "ResolveError: cannot resolve math:sqrtt: module 'math' has no attribute 'sqrtt'\n"]
    reentry = server.error("run", "companion.lock.acquire")
    assert reentry["error"] == ["ReentryError: " + reentry["exception"]["message"] + "\n"]
    server.write(b"not json\n")
    protocol = server.message()
    assert protocol["error"] == ["ProtocolError: " + protocol["exception"]["message"] + "\n"]


def test_five_megabytes_in_and_out(stdio):
    server = stdio()
    text = "ü" + "x" * (5 * 1024 * 1024)
    assert server.call("store", "big", text) == "big"
    assert server.call("run", "builtins:len", "$big") == len(text)
    assert server.call("get", "big") == text
    assert server.call("run", "operator:mul", "y", 5 * 1024 * 1024) == "y" * (5 * 1024 * 1024)


def test_a_line_over_max_size_gets_an_error_and_serving_goes_on(stdio):
    server = stdio("--max-size", "1000")

    def line_of(size, request_id):
        request = '{"command": {"command": "run", "args": ["builtins:len", ""]}, "id": %d}' % request_id
        padded = request.replace('""', '"{}"'.format("z" * (size - len(request))))
        assert len(padded) == size
        return padded.encode()

    server.write(line_of(1000, 1) + b"\n" + line_of(1001, 2) + b"\n" + b"z" * 100000 + b"\n" + line_of(1000, 3) + b"\n")
    assert server.message()["evt"]["id"] == 1
    for _ in range(2):
        refused = server.message()
        assert refused["tag"] == "error" and refused["evt"] is None
    assert server.message()["evt"]["id"] == 3
    assert server.call("ping") == "pong"


def test_end_of_input_answers_what_was_queued_then_stops(stdio):
    server = stdio()
    requests = [server.send("run", "time:sleep", 0.5)] + [server.send("run", "operator:neg", n) for n in range(20)]
    server.write(b'{"command": {"command": "run", "args": ["operator:neg", 1]}, "id": "last, without a newline"}')
    server.close_stdin()
    for request in requests:
        server.reply_to(request)
    assert server.message()["evt"]["id"] == "last, without a newline"
    assert server.wait_stopped() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_stop_it(stdio, signum):
    server = stdio()
    assert server.call("ping") == "pong"
    server.process.send_signal(signum)
    assert server.wait_stopped() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_stop_it_during_a_long_command(stdio, signum):
    server = stdio()
    start_long_command(server, 60)
    server.process.send_signal(signum)
    line = server.read_line()
    if line != STOP_LINE:  # the interrupted command's reply may come first
        reply = json.loads(line.decode())
        assert reply["tag"] == "error" and reply["evt"]["id"] == "long"
        line = server.read_line()
    assert line == STOP_LINE
    assert server.read_line() == b""
    assert server.process.wait(20) == 0


def test_a_command_can_stop_the_server_after_its_reply(stdio):
    server = stdio()
    assert server.call("run", "liaison.stop") is None
    assert server.wait_stopped() == 0


def test_output_of_served_code_goes_to_stderr(stdio):
    server = stdio()
    code = "\n".join([
        "import os, subprocess, sys",
        "print('from print')",
        "sys.stdout.write('from sys.stdout\\n')",
        "sys.stdout.flush()",
        "os.write(1, b'from os.write\\n')",
        "subprocess.check_call([sys.executable, '-c', 'print(\"from a child process\")'])",
    ])
    server.write(exec_request(code, "noisy"))
    assert server.message()["evt"]["id"] == "noisy"
    server.close_stdin()
    assert server.wait_stopped() == 0
    printed = server.stderr_text()
    for text in ["from print", "from sys.stdout", "from os.write", "from a child process"]:
        assert text in printed


#: Reads stdin to its end in a child process and prints how many bytes it got.
CHILD_READING_STDIN = ("__import__('subprocess').check_output([__import__('sys').executable, '-c', "
                       "'import sys; print(len(sys.stdin.buffer.read()))'], universal_newlines=True)")


@pytest.mark.parametrize("args, response", [
    (["sys:stdin.read"], ""),
    (["sys:__stdin__.read"], ""),
    (["builtins:eval", CHILD_READING_STDIN], "0\n"),
], ids=["sys.stdin", "sys.__stdin__", "a child process"])
def test_served_code_reading_stdin_gets_end_of_file_not_the_next_requests(stdio, args, response):
    server = stdio()
    reading = server.send("run", *args)
    following = [server.send("run", "operator:add", 1, number) for number in range(3)]
    assert server.reply_to(reading)["response"] == response
    assert [server.reply_to(request)["response"] for request in following] == [1, 2, 3]


def test_input_raises_eof_error_and_the_next_requests_are_answered(stdio):
    server = stdio()
    reading = server.send("run", "builtins:input")
    following = server.send("run", "operator:add", 1, 1)
    error = server.reply_to(reading)
    assert error["tag"] == "error" and error["exception"]["type"] == "EOFError", error
    assert server.reply_to(following)["response"] == 2


def test_allow_import_limits_targets(stdio):
    server = stdio("--allow-import", "math")
    assert server.call("run", "math:sqrt", 4) == 2.0
    server.error("run", "os:getcwd")
    assert server.call("exists", "os:getcwd") is False
    assert server.call("ping") == "pong"


def test_large_replies_and_large_evts_arrive_whole_on_one_line(stdio):
    server = stdio()
    assert server.call("run", "operator:mul", "ab", 100000) == "ab" * 100000
    assert server.call("run", "builtins:len", "x\u00e9" * 100000) == 200000
    assert server.call("ping") == "pong"


def test_a_parent_that_stops_reading_does_not_wedge_it(stdio):
    server = stdio("--send-timeout", "0.5")
    for _ in range(5):
        server.send("run", "operator:mul", "x", 1 << 20)
    # Each reply is far larger than a pipe holds: the server gives up on the first within 0.5 s.
    assert server.process.wait(10) == 0
    assert "stopping" in server.stderr_text()


def test_a_parent_that_closes_its_end_of_stdout_stops_it(stdio):
    server = stdio()
    server.process.stdout.close()
    server.send("run", "operator:mul", "x", 1 << 20)
    assert server.process.wait(20) == 0


def test_help_lists_the_shared_options_and_no_address():
    help_text = subprocess.check_output([sys.executable, "-m", "liaison.stdio", "--help"]).decode()
    for option in ["--max-size", "--send-timeout", "--allow-import", "--no-parent-watch", "--log-level"]:
        assert option in help_text
    assert "HOST:PORT" not in help_text


# Parent death, with a stand-in frontend between the test and the server.

#: Starts the server on the test's pipes (argv: stdin fd, stdout fd, options), tells its id, then waits to die.
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "liaison.stdio"] + sys.argv[3:],
                         stdin=int(sys.argv[1]), stdout=int(sys.argv[2]))
print(child.pid, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def orphan():
    """Start a parent process that starts the server on pipes the test keeps; yield
    (parent, server pid, write end of the server's stdin, its stdout's lines)."""
    started = []

    def start(*options):
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        parent = subprocess.Popen([sys.executable, "-c", PARENT, str(child_in), str(child_out)] + list(options),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(child_in, child_out))
        os.close(child_in)
        os.close(child_out)
        child = int(parent.stdout.readline())
        started.append((parent, child, to_child, from_child))
        return parent, child, to_child, Lines(from_child)

    yield start
    for parent, child, to_child, from_child in started:
        end_parent_and_child(parent, child)
        os.close(to_child)
        os.close(from_child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_it_stops_when_its_parent_dies_though_stdin_stays_open(orphan):
    parent, child, to_child, lines = orphan()
    assert lines.read_line() == START_LINE
    parent.kill()
    parent.wait()
    assert lines.read_line() == STOP_LINE
    assert lines.read_line() == b""
    wait_until(lambda: exited(child))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_parent_watch_serves_on_after_the_parent_dies(orphan):
    parent, child, to_child, lines = orphan("--no-parent-watch")
    assert lines.read_line() == START_LINE
    parent.kill()
    parent.wait()
    wait_until(lambda: parent_id(child) != parent.pid)
    time.sleep(3 * PARENT_POLL)  # a watcher, had there been one, would have stopped the server by now
    os.write(to_child, b'{"command": {"command": "ping"}, "id": 1}\n')
    assert json.loads(lines.read_line().decode())["response"] == "pong"
    os.write(to_child, b'{"command": {"command": "run", "args": ["liaison.stop"]}, "id": 2}\n')
    assert json.loads(lines.read_line().decode())["evt"]["id"] == 2
    assert lines.read_line() == STOP_LINE
    wait_until(lambda: exited(child))
