"""Shared fixtures: real servers on loopback port 0 and real websocket clients."""
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
import websocket

import message_schema
from liaison import Companion
from liaison.client import connect as client_connect
from liaison.constants import START_MARKER, STOP_MARKER
from liaison.websocket import WebsocketLiaison

_ids = itertools.count()


def pytest_configure(config):
    message_schema.check_client_reads()


@pytest.fixture(autouse=True)
def messages_refused_on_other_threads():
    """Fail a test during which a client's reader thread read a message the schema refuses (one the test's
    own thread reads raises at once)."""
    before = len(message_schema.refused)
    yield
    assert len(message_schema.refused) == before, message_schema.refused[before]

#: The hello that turns on ``interleave``: pushed messages arrive as they are made, before the reply.
HELLO = json.dumps({"command": {"command": "hello", "kwargs": {"features": ["interleave"]}}, "id": "hello"})


def say_hello(ws):
    """Ask for ``interleave`` on a websocket-client connection (idle: the next message is hello's reply)."""
    ws.send(HELLO)
    reply = json.loads(ws.recv())
    assert reply["evt"]["id"] == "hello" and reply["response"]["features"] == ["interleave"], reply


class Client:
    """A websocket-client connection that speaks the liaison protocol."""

    def __init__(self, url, **options):
        self.ws = websocket.create_connection(url, timeout=30, **options)

    def request(self, command, *args, **kwargs):
        """Send one command and return the whole reply, checking that it echoes the request."""
        message = {"command": {"command": command, "args": list(args), "kwargs": kwargs}, "id": next(_ids)}
        reply = self.send(json.dumps(message))
        assert reply["evt"] == message
        return reply

    def send(self, text, opcode=websocket.ABNF.OPCODE_TEXT):
        """Send a raw message and return the parsed reply."""
        self.ws.send(text, opcode)
        return json.loads(self.ws.recv())

    def call(self, command, *args, **kwargs):
        """Send one command and return its response, failing the test on an error reply."""
        reply = self.request(command, *args, **kwargs)
        assert reply["tag"] == "response", reply
        return reply["response"]

    def error(self, command, *args, **kwargs):
        """Send one command that must fail; check the error reply's shape and return
        ``{"type", "message", "traceback"}`` from its ``exception`` and ``error`` (the list of
        ``traceback.format_exception``'s items, each ending in a newline)."""
        reply = self.request(command, *args, **kwargs)
        assert reply["tag"] == "error", reply
        assert list(reply) == ["error", "exception", "tag", "evt"], reply
        items, exception = reply["error"], reply["exception"]
        assert set(exception) == {"type", "message"}, exception
        assert items and all(isinstance(item, str) and item.endswith("\n") for item in items), items
        return {"type": exception["type"], "message": exception["message"], "traceback": items}

    def close(self):
        self.ws.close()


@pytest.fixture
def make_server():
    """Start in-process servers on a free port; all are stopped after the test."""
    servers = []

    def start(companion=None, **options):
        server = WebsocketLiaison("127.0.0.1", 0, companion or Companion(), **options)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.stop()
        thread.join(10)
        assert not thread.is_alive()


@pytest.fixture
def server(make_server):
    return make_server()


def closing_all(open_one):
    """A fixture's body: yield a function that calls *open_one* and keeps what it opens, then close it all."""
    opened = []

    def open_and_keep(*args, **options):
        item = open_one(*args, **options)
        opened.append(item)
        return item

    yield open_and_keep
    for item in opened:
        item.close()


@pytest.fixture
def connect():
    """Open clients to a server; all are closed after the test."""
    yield from closing_all(lambda server, **options: Client(
        "ws://127.0.0.1:{}".format(server.server_address[1]), **options))


@pytest.fixture
def client(server, connect):
    return connect(server)


class CLIServer:
    """``python -m liaison.websocket`` in a subprocess, with its stdout read chunk by chunk."""

    def __init__(self, *args, env=None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "liaison.websocket"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.chunks = []

    def read_chunk(self, timeout=20):
        """The next chunk the process wrote to stdout ('' at end of file)."""
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, "no output from the server within {} s; stderr: {}".format(timeout, self.stderr_so_far())
        chunk = os.read(self.process.stdout.fileno(), 65536).decode()
        self.chunks.append(chunk)
        return chunk

    def stderr_so_far(self):
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode()

    def wait_started(self):
        """Wait for the start marker and return ``(host, port)`` from it."""
        chunk = self.read_chunk()
        assert chunk.startswith(START_MARKER + "@"), chunk
        host, _, port = chunk[len(START_MARKER) + 1:].rpartition(":")
        return host, int(port)

    def wait_stopped(self, timeout=20):
        """Wait for the stop marker and the exit; return the exit code."""
        chunk = self.read_chunk(timeout)
        assert chunk.startswith(STOP_MARKER + "@"), chunk
        assert self.read_chunk(timeout) == ""
        return self.process.wait(timeout)

    def kill(self):
        reap(self.process)


def reap(process):
    """Kill *process* if it still runs, wait for it, and close the pipes it was given."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            try:
                stream.close()
            except BrokenPipeError:  # unflushed input for a process that is gone
                pass


@pytest.fixture
def cli():
    """Start ``python -m liaison.websocket`` subprocesses; all are killed after the test."""
    processes = []

    def start(*args, env=None):
        process = CLIServer(*args, env=env)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


def wait_until(predicate, timeout=10):
    """Poll *predicate* until true, failing after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met within {} s".format(timeout)
        time.sleep(0.01)


def drive_together(clients, drive):
    """Run ``drive(client, number)`` for every client at once, each on its own thread;
    return the exceptions they raised (assertions in threads are lost otherwise)."""
    errors = []

    def guarded(client, number):
        try:
            drive(client, number)
        except Exception as problem:
            errors.append(problem)

    threads = [threading.Thread(target=guarded, args=(client, n)) for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def exited(pid):
    """Whether process *pid* is gone or a zombie (whoever adopted it may not reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open("/proc/{}/stat".format(pid)) as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def parent_id(pid):
    with open("/proc/{}/stat".format(pid)) as stat:
        return int(stat.read().rpartition(")")[2].split()[1])


@pytest.fixture
def open_client(server):
    """Connect liaison.client Clients to the server; all are closed after the test."""
    yield from closing_all(lambda **options: client_connect(
        "127.0.0.1:{}".format(server.server_address[1]), **options))


def end_parent_and_child(parent, child):
    """Kill a stand-in frontend (a Popen with pipes) and the server it started (pid *child*)."""
    parent.kill()
    parent.wait()
    parent.stdin.close()
    parent.stdout.close()
    try:
        os.kill(child, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def stdio():
    """Start ``python -m liaison.stdio`` subprocesses; all are killed after the test."""
    from stdioserver import START_LINE, StdioServer  # here, not at the top: stdioserver imports conftest
    servers = []

    def start(*args):
        server = StdioServer(*args)
        servers.append(server)
        assert server.started == START_LINE, (server.started, server.stderr_text())
        return server

    yield start
    for server in servers:
        server.kill()
