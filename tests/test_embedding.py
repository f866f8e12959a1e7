"""Embedding in a host application: its main-loop thread, background serving, events, urgent pings."""
import json
import logging
import queue
import socket
import subprocess
import sys
import threading
import time

import pytest
import websocket
from conftest import drive_together, say_hello, wait_until

from liaison import Companion
from liaison.websocket import WebsocketLiaison


class MainLoop:
    """A queue-driven stand-in for a GUI main loop, on its own thread: the host's chosen thread."""

    def __init__(self):
        self.calls = queue.Queue()
        self.thread = threading.Thread(target=self.run, name="main-loop", daemon=True)
        self.thread.start()

    def run(self):
        while True:
            fn = self.calls.get()
            if fn is None:
                return
            fn()

    def dispatch(self, fn):
        """The dispatcher: like ``wx.CallAfter``, queue *fn* for the main loop."""
        self.calls.put(fn)

    def close(self):
        self.calls.put(None)
        self.thread.join(10)


def request(command, *args, id=None, **kwargs):
    return json.dumps({"command": {"command": command, "args": list(args), "kwargs": kwargs}, "id": id})


def receive(client):
    return json.loads(client.ws.recv())


def thread_name():
    return threading.current_thread().name


def test_every_command_runs_on_the_main_loop_thread(make_server, connect):
    loop = MainLoop()
    seen = []
    companion = Companion({"thread_name": thread_name, "seen": seen})
    server = make_server(companion, dispatcher=loop.dispatch)
    clients = [connect(server) for _ in range(4)]

    def drive(client, number):
        for call in range(10):
            assert client.call("run", "thread_name") == "main-loop"
            client.call("run", "seen.append", thread_name())
            assert client.call("init", "p{}".format(number), "sample:Point", call) == "p{}".format(number)
            assert client.call("run", "thread_name") == "main-loop"

    errors = drive_together(clients, drive)
    loop.close()
    assert not errors
    assert len(seen) == 40 and "main-loop" not in seen


def test_ping_skips_a_busy_main_loop_and_errors_come_back(make_server, connect):
    loop = MainLoop()
    release = threading.Event()
    server = make_server(Companion({"release": release}), dispatcher=loop.dispatch)
    busy, other = connect(server), connect(server)
    busy.ws.send(request("run", "release.wait", 30, id="long"))
    try:
        assert other.call("ping") == "pong"
        assert busy.call("ping") == "pong"
        assert not release.is_set()
    finally:
        release.set()
    assert receive(busy)["response"] is True
    error = busy.error("run", "sample:fail", "from the main loop")
    assert error["type"] == "ValueError" and error["message"] == "from the main loop"
    loop.close()


def test_ping_on_the_same_connection_is_answered_while_a_10_second_command_runs(make_server, connect):
    release = threading.Event()
    server = make_server(Companion({"release": release}))
    client = connect(server)
    client.ws.send(request("run", "release.wait", 10, id="long"))
    started = time.monotonic()
    client.ws.send(request("ping", id="ping"))
    reply = receive(client)
    elapsed = time.monotonic() - started
    assert reply["evt"]["id"] == "ping" and reply["response"] == "pong"
    assert elapsed < 1.0 and not release.is_set()
    client.ws.ping(b"still there?")
    opcode, data = client.ws.recv_data(control_frame=True)
    assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"still there?")
    release.set()
    reply = receive(client)
    assert reply["evt"]["id"] == "long" and reply["response"] is True


def test_replies_keep_request_order_with_pings_answered_first(make_server, connect):
    release = threading.Event()
    server = make_server(Companion({"release": release}))
    client = connect(server)
    client.ws.send(request("run", "release.wait", 30, id=0))
    for number in range(1, 20):
        client.ws.send(request("run", "builtins:abs", -number, id=number))
    client.ws.send("not json")
    client.ws.send(request("ping", id="ping"))
    assert receive(client)["evt"]["id"] == "ping"
    release.set()
    for number in range(20):
        assert receive(client)["evt"]["id"] == number
    reply = receive(client)
    assert reply["tag"] == "error" and reply["evt"] is None


@pytest.mark.parametrize("interleave", [True, False], ids=["after hello", "liaison-py's order"])
def test_events_from_a_running_command_reach_its_caller_before_the_reply_once_it_said_hello(
        make_server, connect, interleave):
    def job(steps):
        for step in range(steps):
            server.send({"progress": step}, client=server.current_client())
        return "done"

    server = make_server(Companion({"job": job}))
    caller, bystander = connect(server), connect(server)
    if interleave:
        say_hello(caller.ws)
    caller.ws.send(request("run", "job", 3, id="job"))
    events = [{"progress": 0}, {"progress": 1}, {"progress": 2}]
    reply = {"response": "done", "tag": "response",
             "evt": {"command": {"command": "run", "args": ["job", 3], "kwargs": {}}, "id": "job"}}
    assert [receive(caller) for _ in range(4)] == (events + [reply] if interleave else [reply] + events)
    assert bystander.call("ping") == "pong"
    assert server.current_client() is None


def test_events_reach_the_caller_through_a_dispatcher(make_server, connect):
    loop = MainLoop()

    def job():
        server.send(thread_name(), client=server.current_client())
        return "done"

    server = make_server(Companion({"job": job}), dispatcher=loop.dispatch)
    client = connect(server)
    say_hello(client.ws)
    client.ws.send(request("run", "job"))
    assert receive(client) == "main-loop"
    assert receive(client)["response"] == "done"
    loop.close()


def test_run_liaison_send_broadcasts_before_the_reply_to_a_client_that_said_hello(server, connect):
    sender, listener = connect(server), connect(server)
    say_hello(sender.ws)
    assert listener.call("ping") == "pong"
    sender.ws.send(request("run", "liaison.send", {"n": [1, 2.5, None]}, id=1))
    assert receive(sender) == {"n": [1, 2.5, None]}
    assert receive(sender)["response"] == 2
    assert receive(listener) == {"n": [1, 2.5, None]}


def test_send_from_another_thread_to_everyone_and_to_one(server, connect):
    clients = [connect(server) for _ in range(3)]
    for client in clients:
        assert client.call("ping") == "pong"
    pushed = []
    thread = threading.Thread(target=lambda: pushed.append(server.send(float("nan"))))
    thread.start()
    thread.join(10)
    assert pushed == [3]
    for client in clients:
        assert receive(client) is None
    assert server.send("just you", client=server.connected_clients()[0]) == 1


def test_serve_in_thread_then_stop_from_inside_a_command_with_a_dispatcher():
    loop = MainLoop()
    sessions = []

    def remember():
        sessions.append(server.current_client()._session)

    server = WebsocketLiaison("127.0.0.1", 0, Companion({"remember": remember}), dispatcher=loop.dispatch)
    port = server.server_address[1]
    thread = server.serve_in_thread()
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=10)
    bystander = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=10)
    for ws in (client, bystander):
        ws.send(request("run", "remember"))
        assert json.loads(ws.recv())["response"] is None
    client.send(request("run", "liaison.stop", id="stop"))
    assert json.loads(client.recv())["evt"]["id"] == "stop"
    for ws in (client, bystander):
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1001).to_bytes(2, "big")
    server.stop()
    assert not thread.is_alive()
    for session in sessions:
        assert not session.reader.is_alive() and not session.worker.is_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    loop.close()


def test_stop_from_inside_a_command_does_not_wait_for_commands_queued_behind_it(make_server, connect):
    running, queued = threading.Event(), threading.Event()

    def stop():
        running.set()
        queued.wait(30)
        started = time.monotonic()
        server.stop()
        return time.monotonic() - started

    server = make_server(Companion({"stop": stop}))
    stopper, other = connect(server), connect(server)
    stopper.ws.send(request("run", "stop", id="stop"))
    assert running.wait(10)
    other.ws.send(request("run", "builtins:abs", -1, id="queued"))
    assert other.call("ping") == "pong"
    queued.set()
    assert receive(stopper)["response"] < 2


def test_stop_on_the_main_loop_thread_fails_commands_still_waiting_for_it(make_server, connect):
    loop = MainLoop()
    gate = threading.Event()
    handed = threading.Event()
    ran = []

    def dispatch(fn):
        loop.dispatch(fn)
        handed.set()

    server = make_server(Companion({"ran": ran}), dispatcher=dispatch)
    client = connect(server)
    stopped = []

    def stop_when_told():
        gate.wait(30)
        started = time.monotonic()
        server.stop()
        stopped.append(time.monotonic() - started)

    loop.dispatch(stop_when_told)
    client.ws.send(request("run", "ran.append", 1))
    assert handed.wait(10)
    gate.set()
    loop.close()
    assert stopped and stopped[0] < 4
    assert ran == []


def test_stop_from_another_thread_waits_for_a_running_command(make_server, connect):
    started, release = threading.Event(), threading.Event()
    finished, seen_by_stop = [], []

    def job():
        started.set()
        release.wait(30)
        finished.append(True)

    server = make_server(Companion({"job": job}))
    client = connect(server)
    client.ws.send(request("run", "job"))
    assert started.wait(10)
    stopper = threading.Thread(target=lambda: (server.stop(), seen_by_stop.append(list(finished))))
    stopper.start()
    opcode, data = client.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == (1001).to_bytes(2, "big")
    release.set()
    stopper.join(10)
    assert seen_by_stop == [[True]]


def test_a_client_that_leaves_mid_command_does_not_disturb_the_server(make_server, connect):
    release = threading.Event()
    server = make_server(Companion({"release": release}))
    leaver, stayer = connect(server), connect(server)
    leaver.ws.send(request("run", "release.wait", 30))
    leaver.close()
    release.set()
    assert stayer.call("ping") == "pong"
    assert stayer.call("run", "builtins:abs", -2) == 2


def test_connections_and_commands_are_logged(server, connect, caplog):
    caplog.set_level(logging.DEBUG, logger="liaison")
    client = connect(server)
    assert client.call("run", "builtins:abs", -1) == 1
    client.close()
    wait_until(lambda: any("disconnected" in record.getMessage() for record in caplog.records))
    levels = {record.getMessage().split(" from ")[0]: record.levelname for record in caplog.records}
    assert levels["client 1 connected"] == "INFO"
    assert levels["client 1 disconnected"] == "INFO"
    took = [record for record in caplog.records if record.getMessage().startswith("run took")]
    assert took and took[0].levelname == "DEBUG"


def test_the_library_installs_no_log_handler():
    code = ("import logging\nfrom liaison.websocket import WebsocketLiaison\n"
            "server = WebsocketLiaison('127.0.0.1', 0)\nserver.serve_in_thread()\nserver.stop()\n"
            "print(len(logging.getLogger('liaison').handlers), len(logging.getLogger().handlers))")
    assert subprocess.check_output([sys.executable, "-c", code]).split() == [b"0", b"0"]
