"""liaison.client's cancel(), describe() and cancelling timeouts, against real servers."""
import threading
import time

import pytest

from conftest import wait_until
from liaison import Companion, RemoteError
from liaison.client import CANCEL_GRACE, spawn


def spin(started):
    """Loop in Python until interrupted (or for 20 s): a command ``cancel`` can end at its next bytecode."""
    started.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pass


def block(started, seconds):
    """Block in C for *seconds*: a command ``cancel`` cannot end before it returns."""
    started.set()
    time.sleep(seconds)


@pytest.fixture
def server(make_server):
    return make_server(Companion({"spin": spin, "block": block, "started": threading.Event()}))


@pytest.fixture
def client(open_client):
    return open_client()


def in_background(call, *args, **kwargs):
    """Run ``call(*args, **kwargs)`` on a thread; return the thread and a list that gets its exception."""
    raised = []

    def run():
        try:
            call(*args, **kwargs)
        except Exception as problem:
            raised.append(problem)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def test_a_timeout_cancels_the_call_in_the_server_which_is_free_at_once(server, client, open_client):
    with pytest.raises(TimeoutError) as caught:
        client.call("run", ["spin", "$started"], timeout=0.2)
    assert str(caught.value).startswith("no reply to run within 0.2 s from ws://")
    assert str(caught.value).endswith("; cancelled it")
    assert isinstance(caught.value.__cause__, RemoteError)
    assert caught.value.__cause__.type == "Cancelled"
    # The loop would run for ever: the Companion is free again, for this client and any other.
    assert open_client().call("run", ["math:sqrt", 16], timeout=5) == 4.0
    assert client.call("run", ["math:sqrt", 16], timeout=5) == 4.0


def test_a_call_the_server_cannot_end_in_time_raises_saying_so_and_its_late_reply_is_dropped(client, caplog):
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        client.call("run", ["block", "$started", 3], timeout=0.2)
    assert time.monotonic() - started < 0.2 + CANCEL_GRACE + 1
    assert str(caught.value).endswith("; cancel answered 'interrupted': it may still be running")
    assert caught.value.__cause__ is None
    # The next call waits for the sleep to end; the blocked call's Cancelled reply comes first, unremarked.
    assert client.call("run", ["math:sqrt", 16], timeout=10) == 4.0
    assert "matches no waiting call" not in caplog.text
    assert client.in_flight() == {}


def test_cancel_takes_a_queued_call_out_before_it_runs(server, client):
    running, running_raised = in_background(client.run, "spin", "$started")
    assert server.companion.namespace["started"].wait(10)
    queued, queued_raised = in_background(client.store, "side_effect", 1)
    wait_until(lambda: sorted(client.in_flight().values()) == ["run", "store"])
    ids = {command: request_id for request_id, command in client.in_flight().items()}
    assert client.cancel(ids["store"]) == "dequeued"
    queued.join(10)
    assert [(error.type, type(error)) for error in queued_raised] == [("Cancelled", RemoteError)]
    assert client.cancel(ids["run"]) == "interrupted"
    running.join(10)
    assert [error.type for error in running_raised] == ["Cancelled"]
    assert client.exists("side_effect") is False


def test_cancel_of_a_finished_or_unknown_request_says_so(client):
    assert client.run("math:sqrt", 4) == 2.0  # a client numbers its requests from 1, and hello was the first
    assert client.cancel(2) == "finished"
    assert client.cancel(987654321) == "unknown"


def test_describe_a_target_and_the_commands(client):
    description = client.describe("fractions:Fraction")
    assert (description["kind"], description["name"]) == ("class", "fractions:Fraction")
    assert "limit_denominator" in description["members"]
    assert {"get", "run", "try", "ping"} <= set(client.describe()["commands"])


def test_a_timeout_cancels_a_loop_in_a_spawned_stdio_server():
    with spawn(transport="stdio") as client:
        with pytest.raises(TimeoutError, match="; cancelled it$"):
            client.call("run", ["timeit:timeit"], {"stmt": "pass", "number": 2 * 10 ** 9}, timeout=0.2)
        assert client.call("run", ["math:sqrt", 16], timeout=5) == 4.0
