"""liaison.client against real servers: in-process ones, and ``python -m liaison.websocket`` via spawn()."""
import os
import socket
import subprocess
import sys
import threading
import traceback

import pytest

import sample
from conftest import wait_until
from liaison import Companion, RemoteError
from liaison.client import connect, spawn
from liaison.remote import result


@pytest.fixture
def server(make_server):
    return make_server(Companion({"sample": sample}))


@pytest.fixture
def client(open_client):
    return open_client()


def test_every_command(client):
    assert client.ping() == "pong"
    assert client.run("math:pow", 2, 10) == 1024
    assert client.init("p", "sample:Point", 3, y=4) == "p"
    assert client.get("p.x") == 3
    assert client.run("p.norm") == 5.0
    assert client.exists("p.tags") is True
    assert client.exists("p.nothing") is False
    assert client.store("numbers", [1, 2, 3]) == "numbers"
    assert client.run("builtins:sum", "$numbers") == 6
    assert client.register("join", "os.path:join") == "join"
    assert client.run("join", "a", "b") == os.path.join("a", "b")
    assert client.attempt("math:sqrt", 9) == {"success": True, "result": 3.0}
    failure = client.attempt("sample:fail", "no")
    assert failure["success"] is False
    assert failure["result"][-1] == "ValueError: no\n"


def test_kwargs_named_like_the_methods_parameters_reach_the_remote_call(client):
    assert client.init("p", "sample:Point", 1, name="origin") == "p"
    assert client.get("p.name") == "origin"
    assert client.run("sample:echo", fcn=1) == {"args": [], "kwargs": {"fcn": 1}}
    with pytest.raises(TypeError, match=r"run\(fcn"):
        client.run()


def test_error_reply_raises_remote_error_with_type_message_and_traceback_lines(client):
    with pytest.raises(RemoteError) as caught:
        client.run("sample:fail", "it broke")
    error = caught.value
    assert (error.type, error.message) == ("ValueError", "it broke")
    assert error.traceback[0] == "Traceback (most recent call last):"
    assert error.traceback[1].startswith('  File "{}", line '.format(sample.__file__))  # the called code's frame
    assert error.traceback[-1] == "ValueError: it broke"
    assert not any("\n" in line for line in error.traceback)
    assert client.ping() == "pong"


def test_a_remote_error_liaison_raised_itself_has_no_frames(client):
    with pytest.raises(RemoteError) as caught:
        client.run("math:sqrtt")
    assert caught.value.type == "ResolveError"
    assert caught.value.traceback == ["ResolveError: cannot resolve math:sqrtt: module 'math' has no attribute 'sqrtt'"]
    assert str(caught.value) == caught.value.traceback[0]


def test_str_of_a_remote_error_ends_with_where_it_was_raised(client):
    with pytest.raises(RemoteError) as caught:
        client.run("sample:fail", "it broke")
    lines = str(caught.value).splitlines()
    assert lines[:2] == ["ValueError: it broke", "Raised in the liaison server at:"]
    assert lines[-2].startswith('  File "{}", line '.format(sample.__file__)) and lines[-2].endswith(", in fail")
    assert lines[-1] == "    raise ValueError(message)"
    # So an uncaught one shows it, after the local frames.
    shown = "".join(traceback.format_exception(type(caught.value), caught.value, caught.value.__traceback__))
    assert shown.endswith("    raise ValueError(message)\n")


def test_str_of_a_chained_remote_error_shows_the_last_exceptions_own_frames(client):
    with pytest.raises(RemoteError) as caught:
        client.run("sample:fail_chained", "first")
    error = caught.value
    assert (error.type, error.message) == ("RuntimeError", "chained")
    assert "ValueError: first" in error.traceback
    lines = str(error).splitlines()
    assert lines[:2] == ["RuntimeError: chained", "Raised in the liaison server at:"]
    assert [line for line in lines if line.startswith('  File "')] == [
        '  File "{}", line {}, in fail_chained'.format(sample.__file__, sample.fail_chained.__code__.co_firstlineno + 5)]


def test_a_remote_error_without_message_or_frames(client):
    assert client.init("empty", "builtins:iter", []) == "empty"
    with pytest.raises(RemoteError) as caught:
        client.run("builtins:next", "$empty")
    assert (caught.value.type, caught.value.message) == ("StopIteration", "")
    assert str(caught.value).splitlines()[0] == "StopIteration"
    with pytest.raises(RemoteError) as caught:
        client.call("no_such_command")
    assert caught.value.type == "CommandError"
    assert len(caught.value.traceback) == 1
    assert str(caught.value) == caught.value.traceback[0]


def test_an_upstream_liaison_py_error_reply_gives_the_same_remote_error():
    # liaison-py 1.0.1 sends traceback.format_exception's chunks (several lines each, ending in newlines)
    # and no "exception" object.
    reply = {
        "error": [
            "Traceback (most recent call last):\n",
            '  File "/site-packages/liaison/websocket/websocket.py", line 78, in process_messages\n'
            "    'response': self.process_command(message['command']),\n",
            '  File "/app/psychopy/experiment.py", line 12, in load\n'
            '    raise exceptions.MissingFile("no such file:\\n  exp.psyexp")\n',
            "psychopy.exceptions.MissingFile: no such file:\n  exp.psyexp\n",
        ],
        "tag": "error",
        "evt": {"command": {"command": "run", "args": ["experiment.load"]}, "id": 1},
    }
    with pytest.raises(RemoteError) as caught:
        result(reply)
    error = caught.value
    assert (error.type, error.message) == ("MissingFile", "no such file:\n  exp.psyexp")
    assert error.traceback[-4:] == [
        '  File "/app/psychopy/experiment.py", line 12, in load',
        '    raise exceptions.MissingFile("no such file:\\n  exp.psyexp")',
        "psychopy.exceptions.MissingFile: no such file:",
        "  exp.psyexp",
    ]
    assert str(error).splitlines()[-2:] == error.traceback[-4:-2]


def test_an_upstream_chained_error_reply_is_read_from_its_last_exception():
    reply = {
        "error": [
            "Traceback (most recent call last):\n",
            '  File "/app/psychopy/experiment.py", line 12, in load\n'
            '    raise exceptions.MissingFile("exp.psyexp")\n',
            "psychopy.exceptions.MissingFile: exp.psyexp\n",
            "\nThe above exception was the direct cause of the following exception:\n\n",
            "RuntimeError: could not load: the file\n    exp.psyexp\n",
        ],
        "tag": "error",
        "evt": {"command": {"command": "run", "args": ["experiment.load"]}, "id": 1},
    }
    with pytest.raises(RemoteError) as caught:
        result(reply)
    error = caught.value
    assert (error.type, error.message) == ("RuntimeError", "could not load: the file\n    exp.psyexp")
    assert str(error) == "RuntimeError: could not load: the file\n    exp.psyexp"  # raised where no frame shows


def test_remote_error_needs_no_websocket_client():
    code = "import sys, liaison; print(liaison.RemoteError.__module__, 'websocket' in sys.modules)"
    output = subprocess.check_output([sys.executable, "-c", code])
    assert output.decode().split() == ["liaison.remote", "False"]


def test_connect_without_websocket_client_says_which_extra_installs_it():
    code = ("import sys; sys.modules['websocket'] = None\n"
            "from liaison.client import connect\n"
            "try:\n    connect('127.0.0.1:1')\nexcept ModuleNotFoundError as missing:\n    print(missing)\n")
    output = subprocess.check_output([sys.executable, "-c", code])
    assert output.decode() == (
        "liaison.client needs the websocket-client package: pip install 'liaison-backend[client]'\n")


def test_threads_sharing_a_client_each_get_their_own_replies(client):
    results = {}

    def work(thread):
        results[thread] = [client.run("sample:echo", thread, call) for call in range(40)]

    threads = [threading.Thread(target=work, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {thread: [{"args": [thread, call], "kwargs": {}} for call in range(40)]
                       for thread in range(8)}


def test_a_call_times_out_and_the_late_reply_does_not_confuse_the_next(client):
    client.timeout = 0.2
    with pytest.raises(TimeoutError, match="^no reply to run within 0.2 s from ws://"):
        client.run("time:sleep", 0.5)
    client.timeout = 10
    assert client.run("sample:echo", "next") == {"args": ["next"], "kwargs": {}}


def test_in_flight_lists_the_calls_waiting_for_their_reply(server, client):
    server.companion.namespace["release"] = release = threading.Event()
    waiting = threading.Thread(target=client.run, args=("sample:wait_for", "$release", 20))
    waiting.start()
    wait_until(lambda: list(client.in_flight().values()) == ["run"])
    release.set()
    waiting.join(20)
    assert client.in_flight() == {}


def test_pushed_messages_reach_the_handlers_of_their_tag_then_the_catch_all_before_the_reply(open_client):
    seen = []
    client = open_client(on_event=lambda message: seen.append(("on_event", message)))
    client.on("*", lambda message: seen.append(("*", message)))
    stop_alerts = client.on("alert", lambda message: seen.append(("alert", message)))
    client.on("other", lambda message: seen.append(("other", message)))
    alert = {"tag": "alert", "message": {"code": 4115, "msg": "frame rate"}}
    client.run("liaison.send", alert)
    assert seen == [("alert", alert), ("on_event", alert), ("*", alert)]

    stop_alerts()
    del seen[:]
    client.run("liaison.send", alert)
    assert seen == [("on_event", alert), ("*", alert)]
    # Untagged messages, and any JSON value, go to the catch-all handlers alone.
    del seen[:]
    client.run("liaison.send", [1, 2])
    client.run("liaison.send", {"no": "tag"})
    assert seen == [("on_event", [1, 2]), ("*", [1, 2]), ("on_event", {"no": "tag"}), ("*", {"no": "tag"})]


def test_a_push_from_inside_a_command_reaches_every_client(open_client):
    mine, theirs = [], threading.Event()
    client = open_client()
    client.on("progress", mine.append)
    listener = open_client()
    listener.on("progress", lambda message: theirs.set())
    # Its reply shows the server has taken it on: a connection is open for the client once the
    # handshake is done, but the server may count it a moment later.
    assert listener.ping() == "pong"
    assert client.run("liaison.send", {"tag": "progress", "done": 0.5}) == 2
    assert mine == [{"tag": "progress", "done": 0.5}]
    assert theirs.wait(10)


def test_a_failing_handler_is_logged_and_the_others_and_the_client_keep_working(open_client, caplog):
    after = []
    client = open_client(on_event=lambda message: 1 / 0)
    client.on("*", after.append)
    client.run("liaison.send", "boom")
    assert after == ["boom"]
    assert client.ping() == "pong"
    assert "a handler failed" in caplog.text and "ZeroDivisionError" in caplog.text


def test_token_goes_in_the_url_and_the_authorization_header():
    # A listener that records the handshake and refuses it, as a server without that token would.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = []

    def refuse():
        connection, _ = listener.accept()
        with connection:
            handshake = b""
            while b"\r\n\r\n" not in handshake:
                handshake += connection.recv(4096)
            received.append(handshake.decode())
            connection.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    refusing = threading.Thread(target=refuse)
    refusing.start()
    try:
        with pytest.raises(ConnectionRefusedError, match=r"refused the token \(HTTP 401\)"):
            connect("127.0.0.1:{}".format(listener.getsockname()[1]), token="s3cret/+ =")
    finally:
        refusing.join(10)
        listener.close()
    lines = received[0].split("\r\n")
    assert lines[0] == "GET /?token=s3cret%2F%2B%20%3D HTTP/1.1"
    assert "Authorization: Bearer s3cret/+ =" in lines
    assert not [line for line in lines if line.lower().startswith("origin:")]


def test_calls_after_the_server_closed_the_connection_raise_connection_error(server, client):
    assert client.ping() == "pong"
    server.stop()  # returns once the connection is closed
    with pytest.raises(ConnectionError, match=r"closed the connection \(code 1001"):
        client.ping()
    with pytest.raises(ConnectionError):
        client.ping()


def test_calls_after_close_raise_connection_error(client):
    client.close()
    with pytest.raises(ConnectionError):
        client.ping()


def test_spawn_starts_a_server_and_close_stops_it():
    client = spawn()
    assert client.url.startswith("ws://127.0.0.1:")
    assert client.transport == "websocket"
    assert client.ping() == "pong"
    assert client.run("os:getpid") == client.process.pid
    client.close()
    assert client.process.returncode == 0


def test_a_spawned_servers_output_never_fills_a_pipe(capfd):
    client = spawn(timeout=10)
    try:
        # Served code may print (to stdout, or to stderr once liaison keeps stdout private) or write to
        # stderr; 200 KB is more than any pipe holds.
        client.run("builtins:print", "x" * 200000)
        client.run("sys:stderr.write", "y" * 200000)
        client.run("sys:stderr.flush")
        assert client.ping() == "pong"
    finally:
        client.close()
    assert client.process.returncode == 0
    # stderr is passed through to ours.
    assert "y" * 200000 in capfd.readouterr().err


def test_spawn_hands_its_token_to_the_server_which_then_refuses_clients_without_it():
    client = spawn(token="per-launch secret")
    try:
        assert client.ping() == "pong"
        with pytest.raises(ConnectionRefusedError, match=r"wants a token \(HTTP 401\)"):
            connect(client.url)
        connect(client.url, token="per-launch secret").close()
    finally:
        client.close()
    assert client.process.returncode == 0


def test_spawn_reports_a_server_that_exits_before_listening():
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 2 before listening; its stderr: .*not an address"):
        spawn(address="nowhere")


def test_spawn_times_out_quoting_stderr(tmp_path):
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\necho warming up >&2\nexec sleep 60\n")
    silent.chmod(0o755)
    with pytest.raises(TimeoutError, match="no start marker within 1 s; its stderr: warming up"):
        spawn(python=str(silent), timeout=1)


def test_spawn_refuses_an_unknown_transport():
    with pytest.raises(ValueError, match="transport must be 'websocket' or 'stdio', not 'pipes'"):
        spawn(transport="pipes")
