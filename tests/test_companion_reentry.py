"""A command that asks for the Companion again is refused at once; other threads still wait their turn."""
import base64
import json
import threading

import pytest
import websocket

import sample
from liaison import Companion
from liaison.companion import CompanionLock, ReentryError


@pytest.fixture
def companion():
    return Companion({"sample": sample})


@pytest.fixture
def server(make_server, companion):
    return make_server(companion)


@pytest.fixture
def client(server, connect):
    client = connect(server)
    client.ws.settimeout(10)
    return client


@pytest.mark.parametrize("args", [
    ["companion.dispatch", "get", ["math:pi"]],
    ["companion.dispatch", "run", ["companion.dispatch", "ping"]],
    ["companion.lock.acquire"],
    ["companion.lock.acquire", False],
])
def test_reentry_is_refused_and_everyone_is_served_afterwards(server, connect, client, args):
    error = client.error("run", *args)
    assert error["type"] == "ReentryError"
    assert "call the function directly" in error["message"]
    assert client.call("get", "math:pi") > 3
    other = connect(server)
    other.ws.settimeout(10)
    assert other.call("run", "sample:echo", 1) == {"args": [1], "kwargs": {}}


def test_reentry_through_handle_message_gets_an_error_reply_back(client):
    inner = json.dumps({"command": {"command": "get", "args": ["math:pi"]}, "id": "inner"})
    encoded = client.call("run", "liaison.handle_message", inner)
    reply = json.loads(base64.b64decode(encoded))
    assert reply["exception"]["type"] == "ReentryError"
    assert reply["evt"]["id"] == "inner"
    assert client.call("ping") == "pong"


def test_try_reports_reentry_as_a_failure(client):
    outcome = client.call("try", "companion.lock.acquire")
    assert outcome["success"] is False
    assert len(outcome["result"]) == 1
    assert outcome["result"][0].startswith("ReentryError: this thread is already running")


def test_urgent_commands_need_no_lock_so_calling_them_back_works(client):
    assert client.call("run", "companion.dispatch", "ping") == "pong"


def test_a_with_block_inside_a_command_re_enters_and_releases(client, companion):
    def guarded():
        with companion.lock:
            return companion.lock.held()

    companion.namespace["guarded"] = guarded
    assert client.call("run", "guarded") is True
    assert not companion.lock.held()
    assert companion.lock.acquire(blocking=False) is True
    companion.lock.release()


def test_a_host_thread_holding_the_lock_makes_commands_wait(client, companion):
    with companion.lock:
        client.ws.send(json.dumps({"command": {"command": "run", "args": ["sample:echo", 1]}, "id": "waits"}))
        assert client.call("ping") == "pong"
        client.ws.settimeout(0.3)
        with pytest.raises(websocket.WebSocketTimeoutException):
            client.ws.recv()
    client.ws.settimeout(10)
    reply = json.loads(client.ws.recv())
    assert reply["evt"]["id"] == "waits" and reply["response"] == {"args": [1], "kwargs": {}}


def test_the_lock_waits_for_other_threads_and_refuses_its_owner():
    lock = CompanionLock()
    assert lock.acquire() is True
    assert lock.held()
    with pytest.raises(ReentryError):
        lock.acquire(blocking=False)
    outcome = []
    other = threading.Thread(target=lambda: outcome.append((lock.acquire(timeout=0.05), lock.held())))
    other.start()
    other.join()
    assert outcome == [(False, False)]
    lock.release()
    assert not lock.held()
    with pytest.raises(RuntimeError, match="un-acquired lock"):
        lock.release()
    taken = threading.Event()
    finish = threading.Event()

    def hold():
        with lock:
            taken.set()
            finish.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    with pytest.raises(RuntimeError, match="un-acquired lock"):
        lock.release()
    assert lock.acquire(blocking=False) is False
    finish.set()
    holder.join()
    assert lock.acquire(timeout=10) is True
    lock.release()
