"""Taking back a request: the ``cancel`` command and per-request deadlines (``"timeout"`` in the envelope)."""
import json
import threading
import time

import pytest
import websocket

from liaison import Companion

from conftest import say_hello

#: A pure-Python loop that says it has started and counts its laps in ``laps`` until interrupted.
LOOP = "\n".join([
    "liaison.send({'tag': 'started'}, client=liaison.current_client())",
    "while True:",
    "    laps.append(1)",
])


def send(ws, command, *args, ident=None, timeout=None):
    message = {"command": {"command": command, "args": list(args)}, "id": ident}
    if timeout is not None:
        message["timeout"] = timeout
    ws.send(json.dumps(message))


def receive(ws):
    return json.loads(ws.recv())


def start_loop(ws, ident="loop"):
    """Start the endless loop on *ws* and wait until it runs."""
    say_hello(ws)
    send(ws, "run", "builtins:exec", LOOP, {"liaison": "$liaison", "laps": "$laps"}, ident=ident)
    assert receive(ws) == {"tag": "started"}


@pytest.fixture
def served(cli):
    """A CLI server (commands on its main thread) and a way to open connections to it."""
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    sockets = []

    def connect():
        ws = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)
        sockets.append(ws)
        return ws

    first = connect()
    send(first, "store", "laps", [], ident="setup")
    assert receive(first)["response"] == "laps"
    yield connect
    for ws in sockets:
        ws.close()


def test_a_running_loop_is_interrupted_and_the_lock_is_free_again(served):
    caller, other = served(), served()
    start_loop(caller)
    asked = time.monotonic()
    send(caller, "cancel", "loop", ident="c")
    replies = {reply["evt"]["id"]: reply for reply in (receive(caller), receive(caller))}
    assert time.monotonic() - asked < 1
    assert replies["c"]["response"] == "interrupted"
    cancelled = replies["loop"]
    assert cancelled["tag"] == "error" and cancelled["exception"]["type"] == "Cancelled"
    assert_interrupted_in_the_loop(cancelled)
    send(other, "run", "math:hypot", 3, 4, ident="after")
    assert receive(other)["response"] == 5.0


def assert_interrupted_in_the_loop(reply):
    """*reply* is the Cancelled error of LOOP, whose traceback shows where it stopped: in the loop."""
    assert reply["exception"] == {"type": "Cancelled", "message": "the command was cancelled before it finished"}
    assert reply["error"][0] == "Traceback (most recent call last):\n"
    assert reply["error"][1].startswith('  File "<string>", line ')
    assert reply["error"][-1] == "liaison.interrupt.Cancelled: the command was cancelled before it finished\n"


def test_a_queued_request_is_dequeued_and_never_runs(served):
    caller = served()
    start_loop(caller)
    send(caller, "run", "laps.clear", ident="queued")
    send(caller, "cancel", "queued", ident="c1")
    dequeued = receive(caller)  # its Cancelled reply comes first, then the cancel's
    assert dequeued["evt"]["id"] == "queued"
    assert dequeued["error"] == ["Cancelled: the command was cancelled before it finished\n"]  # it never ran
    assert receive(caller)["response"] == "dequeued"
    send(caller, "cancel", "loop", ident="c2")
    replies = {reply["evt"]["id"]: reply for reply in (receive(caller), receive(caller))}
    assert replies["c2"]["response"] == "interrupted"
    send(caller, "run", "builtins:len", "$laps", ident="count")
    assert receive(caller)["response"] > 0  # laps.clear never ran


def test_finished_unknown_and_other_connections_requests(served):
    caller, stranger = served(), served()
    send(caller, "ping", ident="done")
    assert receive(caller)["response"] == "pong"
    send(caller, "run", "math:sqrt", 4, ident="done-too")
    assert receive(caller)["response"] == 2.0
    send(caller, "cancel", "done-too", ident="c1")
    assert receive(caller)["response"] == "finished"
    send(caller, "cancel", "never-sent", ident="c2")
    assert receive(caller)["response"] == "unknown"
    start_loop(caller)
    send(stranger, "cancel", "loop", ident="theirs")
    assert receive(stranger)["response"] == "unknown"
    send(caller, "cancel", "loop", ident="mine")
    replies = {reply["evt"]["id"]: reply for reply in (receive(caller), receive(caller))}
    assert replies["mine"]["response"] == "interrupted"


def test_a_request_past_its_timeout_is_cancelled_and_others_go_on(served):
    caller = served()
    say_hello(caller)
    send(caller, "run", "builtins:exec", LOOP, {"liaison": "$liaison", "laps": "$laps"}, ident="slow", timeout=0.3)
    assert receive(caller) == {"tag": "started"}
    reply = receive(caller)
    assert reply["evt"]["id"] == "slow" and reply["exception"]["type"] == "Cancelled"
    send(caller, "run", "math:sqrt", 9, ident="quick", timeout=5)
    assert receive(caller)["response"] == 3.0


@pytest.mark.parametrize("timeout", [0, -1, "1", True, [1]])
def test_a_bad_timeout_is_a_protocol_error(served, timeout):
    caller = served()
    send(caller, "ping", ident="bad", timeout=timeout)
    reply = receive(caller)
    assert reply["tag"] == "error" and reply["exception"]["type"] == "ProtocolError"
    assert "timeout" in reply["exception"]["message"]


def test_cancel_under_a_dispatcher(make_server, connect):
    calls = []
    stop = threading.Event()

    def host_loop():
        while not stop.is_set():
            if calls:
                calls.pop(0)()
            else:
                time.sleep(0.001)

    host = threading.Thread(target=host_loop, daemon=True)
    host.start()
    server = make_server(Companion({"laps": []}), dispatcher=calls.append)
    client = connect(server)
    start_loop(client.ws)
    send(client.ws, "cancel", "loop", ident="c")
    replies = {reply["evt"]["id"]: reply for reply in (receive(client.ws), receive(client.ws))}
    assert replies["c"]["response"] == "interrupted"
    assert_interrupted_in_the_loop(replies["loop"])
    assert client.call("run", "math:hypot", 3, 4) == 5.0
    stop.set()
    host.join(10)


def test_cancel_is_listed_by_describe(server, client):
    commands = client.call("describe")["commands"]
    assert "cancel" in commands and "describe" in commands and "ping" in commands


def test_called_code_can_check_cancelled_and_stop_cleanly(make_server, connect):
    from liaison import cancelled
    assert not cancelled()  # outside any command

    def polite(liaison):
        assert not cancelled()
        liaison.send({"tag": "started"}, client=liaison.current_client())
        while not cancelled():
            pass

    server = make_server(Companion({"polite": polite}))
    client = connect(server)
    say_hello(client.ws)
    send(client.ws, "run", "polite", "$liaison", ident="p")
    assert receive(client.ws) == {"tag": "started"}
    send(client.ws, "cancel", "p", ident="c")
    replies = {reply["evt"]["id"]: reply for reply in (receive(client.ws), receive(client.ws))}
    assert replies["c"]["response"] == "interrupted"
    assert replies["p"]["exception"]["type"] == "Cancelled"  # whether the check or the exception ended it
