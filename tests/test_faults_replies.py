"""Issue 12, rule 2: every request gets exactly one reply, and a connection's worker never dies."""
import os
import select
import signal
import subprocess
import sys
import threading

import pytest

from conftest import reap, wait_until
from liaison import Companion
from liaison.constants import START_MARKER, STOP_MARKER
from liaison.websocket import WebsocketLiaison
from rawclient import CLOSE, PING, TEXT, Raw, frame, request, serve


class Unprintable(Exception):
    """An exception whose ``str()`` itself raises."""

    def __str__(self):
        raise TypeError("str() of this exception fails")


def raise_unprintable():
    raise Unprintable()


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_exception_whose_str_raises_gets_an_error_reply_and_the_worker_goes_on(make_server):
    server = make_server(Companion({"unprintable": raise_unprintable}))
    client = Raw(server.server_address[1])
    reply = client.call("run", "unprintable")
    assert reply["tag"] == "error"
    assert client.call("run", "builtins:abs", -3)["response"] == 3


def test_a_client_waiting_for_a_long_command_without_reading_gets_its_reply(make_server):
    gate = threading.Event()
    server = make_server(Companion({"gate": gate}), ping_interval=0.2)
    port = server.server_address[1]
    waiting = Raw(port)
    waiting.send_text(request("run", "gate.wait", 30, id="long"))
    observer = Raw(port).read_in_background()
    wait_until(lambda: len(observer.pings) >= 3)  # the waiting client missed two pings by now
    gate.set()
    reply = waiting.reply_to("long")
    assert reply["tag"] == "response" and reply["response"] is True


def test_no_data_frame_follows_the_servers_close_frame(server):
    port = server.server_address[1]
    for attempt in range(100):
        client = Raw(port)
        client.send(frame(TEXT, request("run", "builtins:abs", -attempt)) + frame(CLOSE, b"\x03\xe8"))
        opcodes = [opcode for _, opcode, _ in client.read_to_end() if opcode != PING]
        client.close()
        assert CLOSE in opcodes, opcodes
        assert opcodes[opcodes.index(CLOSE) + 1:] == [], "attempt {}: {}".format(attempt, opcodes)


def fail_first_client_thread():
    """Make the first start of a connection's thread fail, as when the process has no threads left."""
    start = threading.Thread.start
    failed = []

    def start_or_fail(thread):
        if thread.name.startswith("liaison-client") and not failed:
            failed.append(thread.name)
            raise RuntimeError("can't start new thread")
        return start(thread)

    return start_or_fail


def test_a_connection_whose_thread_cannot_start_is_closed_and_stop_still_works(make_server, monkeypatch):
    server = make_server()
    port = server.server_address[1]
    monkeypatch.setattr(threading.Thread, "start", fail_first_client_thread())
    with pytest.raises((EOFError, OSError)):
        Raw(port)
    server.stop()


CLI_WITH_A_THREAD_THAT_CANNOT_START = """
import sys, threading
sys.path.insert(0, {!r})
from test_faults_replies import fail_first_client_thread
threading.Thread.start = fail_first_client_thread()
from liaison.websocket.__main__ import main
sys.exit(main(sys.argv[1:]))
""".format(os.path.dirname(os.path.abspath(__file__)))


def read_chunk(process, timeout=20):
    """The next chunk the process writes to stdout ('' at its end)."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "nothing on stdout within {} s".format(timeout)
    return os.read(process.stdout.fileno(), 65536).decode()


def test_the_command_line_writes_its_stop_marker_after_a_thread_failed_to_start():
    process = subprocess.Popen([sys.executable, "-c", CLI_WITH_A_THREAD_THAT_CANNOT_START, "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = read_chunk(process)
        assert started.startswith(START_MARKER + "@")
        port = int(started.rpartition(":")[2])
        with pytest.raises((EOFError, OSError)):
            Raw(port)
        process.send_signal(signal.SIGTERM)
        assert read_chunk(process) == "{}@127.0.0.1:{}".format(STOP_MARKER, port)
        assert process.wait(20) == 0
        assert "Traceback" not in process.stderr.read().decode()
    finally:
        reap(process)


def refuse_to_start(thread):
    raise RuntimeError("can't start new thread")


def test_stop_works_when_no_thread_can_start(make_server, monkeypatch):
    server = make_server()
    clients = [Raw(server.server_address[1]) for _ in range(3)]
    assert [client.call("ping")["response"] for client in clients] == ["pong"] * 3
    monkeypatch.setattr(threading.Thread, "start", refuse_to_start)
    server.stop()
    monkeypatch.undo()
    for client in clients:
        client.read_to_end()  # the connection ends


CLI_OUT_OF_THREADS_ON_SIGUSR1 = """
import signal, sys, threading
start = threading.Thread.start
out_of_threads = []

def start_or_fail(thread):
    if out_of_threads:
        raise RuntimeError("can't start new thread")
    return start(thread)

threading.Thread.start = start_or_fail
signal.signal(signal.SIGUSR1, lambda *_: out_of_threads.append(True))
from liaison.websocket.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_command_line_stops_on_a_signal_when_no_thread_can_start():
    process = subprocess.Popen([sys.executable, "-c", CLI_OUT_OF_THREADS_ON_SIGUSR1, "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = read_chunk(process)
        port = int(started.rpartition(":")[2])
        client = Raw(port)
        assert client.call("ping")["response"] == "pong"
        process.send_signal(signal.SIGUSR1)  # handled first: signals are handled in the order of their numbers
        process.send_signal(signal.SIGTERM)
        assert read_chunk(process) == "{}@127.0.0.1:{}".format(STOP_MARKER, port)
        assert process.wait(20) == 0
        client.read_to_end()
    finally:
        reap(process)


class HookRaises(WebsocketLiaison):
    def new_client(self, client, server):
        raise RuntimeError("the new_client hook failed")


def test_a_new_client_hook_that_raises_is_logged_and_leaves_no_dead_client(caplog):
    server = HookRaises("127.0.0.1", 0, Companion())
    with serve(server) as port:
        client = Raw(port)
        assert client.call("run", "builtins:abs", -2)["response"] == 2
        client.close()
        wait_until(lambda: server.clients == [])
    assert [record for record in caplog.records if record.name == "liaison" and record.exc_info]
