"""liaison.client against real servers: in-process ones, and ``python -m liaison.websocket`` via spawn()."""
import os
import subprocess
import sys
import threading

import pytest

import sample
from liaison import Companion, RemoteError, protocol
from liaison.client import connect, spawn
from liaison.websocket import WebsocketLiaison


@pytest.fixture
def server(make_server):
    return make_server(Companion({"sample": sample}))


@pytest.fixture
def open_client(server):
    """Connect liaison.client Clients to the server; all are closed after the test."""
    clients = []

    def open_one(**options):
        client = connect("127.0.0.1:{}".format(server.server_address[1]), **options)
        clients.append(client)
        return client

    yield open_one
    for client in clients:
        client.close()


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
    assert client.attempt("sample:fail", "no")["result"]["message"] == "no"


def test_kwargs_named_like_the_methods_parameters_reach_the_remote_call(client):
    assert client.init("p", "sample:Point", 1, name="origin") == "p"
    assert client.get("p.name") == "origin"
    assert client.run("sample:echo", fcn=1) == {"args": [], "kwargs": {"fcn": 1}}
    with pytest.raises(TypeError, match=r"run\(fcn"):
        client.run()


def test_error_reply_raises_remote_error_with_type_message_and_traceback(client):
    with pytest.raises(RemoteError) as caught:
        client.run("sample:fail", "it broke")
    error = caught.value
    assert (error.type, error.message) == ("ValueError", "it broke")
    assert str(error) == "ValueError: it broke"
    assert any("it broke" in line for line in error.traceback)
    assert client.ping() == "pong"


def test_remote_error_needs_no_websocket_client():
    code = "import sys, liaison; print(liaison.RemoteError.__module__, 'websocket' in sys.modules)"
    output = subprocess.check_output([sys.executable, "-c", code])
    assert output.decode().split() == ["liaison.remote", "False"]


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
    with pytest.raises(TimeoutError, match="no reply to run within 0.2 s"):
        client.run("time:sleep", 0.5)
    client.timeout = 10
    assert client.run("sample:echo", "next") == {"args": ["next"], "kwargs": {}}


def test_events_reach_on_event_before_the_reply(server, open_client):
    events = []
    client = open_client(on_event=events.append)
    server.companion.namespace["push"] = lambda data: server.send_message_to_all(protocol.event(data))
    assert client.run("push", {"progress": 0.5}) is None
    assert events == [{"progress": 0.5}]


@pytest.mark.skipif(not hasattr(WebsocketLiaison, "send"),
                    reason="needs server push, WebsocketLiaison.send (issue 6), which is not merged yet")
def test_run_liaison_send_reaches_every_clients_on_event(open_client):
    mine, theirs = [], threading.Event()
    client = open_client(on_event=mine.append)
    open_client(on_event=lambda data: theirs.set())
    assert client.run("liaison.send", ["hello", 1]) is None
    assert mine == [["hello", 1]]
    assert theirs.wait(10)


def test_a_failing_on_event_is_logged_and_the_client_keeps_working(server, open_client, caplog):
    client = open_client(on_event=lambda data: 1 / 0)
    server.companion.namespace["push"] = lambda data: server.send_message_to_all(protocol.event(data))
    client.run("push", "boom")
    assert client.ping() == "pong"
    assert "on_event failed" in caplog.text


def test_token_goes_in_the_url_and_the_authorization_header(server, open_client):
    seen = []

    class Recording(server.RequestHandlerClass):
        def check_request(self, path, headers):
            seen.append((path, headers.get("authorization"), headers.get("origin")))
            return super().check_request(path, headers)

    server.RequestHandlerClass = Recording
    assert open_client(token="s3cret/+ =").ping() == "pong"
    assert seen == [("/?token=s3cret%2F%2B%20%3D", "Bearer s3cret/+ =", None)]


def test_calls_after_the_server_closed_the_connection_raise_connection_error(client):
    assert client.run("liaison.stop") is None
    with pytest.raises(ConnectionError, match="closed the connection"):
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
    assert client.ping() == "pong"
    assert client.run("os:getpid") == client.process.pid
    client.close()
    assert client.process.returncode == 0


def test_spawn_hands_its_token_to_the_server_which_then_refuses_clients_without_it():
    client = spawn(token="per-launch secret")
    try:
        assert client.ping() == "pong"
        with pytest.raises(ConnectionRefusedError, match="refused the connection with HTTP 401: it needs its token"):
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
