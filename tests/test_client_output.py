"""liaison.client's output and progress callbacks and streamed results, against spawned servers over both
transports: the commands are tests/streamed.py's."""
import itertools
import os
import threading

import pytest

from conftest import wait_until
from liaison import RemoteError
from liaison.client import STREAM_WINDOW, spawn

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(params=["websocket", "stdio"])
def client(request):
    """A client of a spawned server that can import tests/streamed.py, over each transport."""
    client = spawn(transport=request.param, env=dict(os.environ, PYTHONPATH=TESTS), timeout=20)
    yield client
    client.close()


def pushed(client):
    """The list every pushed message reaching *client* from now on is appended to."""
    messages = []
    client.on("*", messages.append)
    return messages


def test_on_output_gets_the_commands_stdout_stderr_log_and_warnings_before_the_reply(client):
    messages = []
    others = pushed(client)
    assert client.call("run", ["streamed:chatter"], on_output=messages.append) == "done"
    request_id = messages[0]["id"]
    assert [message["tag"] for message in messages] == ["stream"] * len(messages)
    assert all(message["id"] == request_id for message in messages)
    texts = [(message["name"], message["text"]) for message in messages]
    assert texts[:3] == [("stdout", "to stdout\n"), ("stderr", "to stderr\n"), ("log", "WARNING streamed: a warning record\n")]
    assert texts[3][0] == "warning" and "UserWarning: careful" in texts[3][1] and len(texts) == 4
    assert others == []


def test_log_level_lets_lower_records_through(client):
    messages = []
    assert client.call("run", ["streamed:verbose"], on_output=messages.append, log_level="INFO") == "done"
    assert [(message["name"], message["text"]) for message in messages] == [("log", "INFO streamed: an info record\n")]
    with pytest.raises(TypeError, match="give on_output too"):
        client.call("run", ["streamed:verbose"], log_level="INFO")


def test_without_callbacks_nothing_is_captured_or_sent(client, capfd):
    others = pushed(client)
    assert client.call("run", ["streamed:chatter"]) == "done"
    assert client.call("run", ["streamed:steps", 3]) == 3
    assert others == []
    if client.transport == "stdio":  # what it printed went to the server's stderr, passed through to ours
        errors = []
        wait_until(lambda: errors.append(capfd.readouterr().err) or "to stdout\nto stderr\n" in "".join(errors))


def test_on_progress_gets_the_progress_rate_limited_with_the_last_before_the_reply(client):
    updates = []
    assert client.call("run", ["streamed:steps", 2000], on_progress=updates.append) == 2000
    assert updates[0] == {"tag": "progress", "id": updates[0]["id"], "done": 1, "total": 2000, "message": "step 1"}
    assert updates[-1]["done"] == 2000 and updates[-1]["message"] == "step 2000"
    assert len(updates) < 100  # at most one every 0.05 s
    assert [update["done"] for update in updates] == sorted(update["done"] for update in updates)


def test_a_failing_callback_is_logged_and_the_call_goes_on(client, caplog):
    def fail(message):
        raise ZeroDivisionError

    assert client.call("run", ["streamed:chatter"], on_output=fail) == "done"
    assert "on_output callback of a call failed" in caplog.text and "ZeroDivisionError" in caplog.text


def test_a_stream_gives_the_items_in_order_with_their_output_before_each(client):
    events = []
    lock = threading.Lock()

    def seen(event):
        with lock:
            events.append(event)

    items = client.stream("run", ["streamed:counted", 40], window=4,
                          on_output=lambda message: seen(("output", message["text"])))
    for item in items:
        seen(("item", item))
    assert [item for kind, item in events if kind == "item"] == list(range(40))
    printed = ""
    for kind, value in events:
        if kind == "output":
            printed += value
        else:
            assert "making {}\n".format(value) in printed
    assert printed == "".join("making {}\n".format(number) for number in range(40))


def test_the_generator_waits_for_the_client_to_read(client):
    items = client.stream("run", ["streamed:counted", 100], window=4)
    assert next(items) == 0
    # The server sent 4 items and parked the stream: the client's other requests run meanwhile.
    assert client.get("streamed:state") == {"made": 4, "closed": 0}
    assert next(items) == 1
    assert client.get("streamed:state") == {"made": 4, "closed": 0}
    assert next(items) == 2  # two read (half the window): the client says so, and the server makes two more
    assert client.get("streamed:state") == {"made": 6, "closed": 0}
    assert list(items) == list(range(3, 100))
    assert client.get("streamed:state") == {"made": 100, "closed": 1}


def test_the_default_window_is_sixteen(client):
    items = client.stream("run", ["streamed:counted", 100])
    assert next(items) == 0
    assert client.get("streamed:state")["made"] == STREAM_WINDOW == 16
    items.close()


def test_leaving_the_loop_early_cancels_the_stream_and_its_finally_runs(client):
    for item in client.stream("run", ["streamed:counted", 1000], window=8):
        if item == 2:
            break
    state = client.get("streamed:state")
    assert state["closed"] == 1 and 3 <= state["made"] <= 8  # never more than the window
    assert client.in_flight() == {}
    assert client.call("run", ["math:sqrt", 4]) == 2.0


def test_in_flight_lists_an_open_stream_and_cancel_ends_it(client):
    items = client.stream("run", ["streamed:counted", 1000], window=2)
    assert next(items) == 0
    (request_id, command), = client.in_flight().items()
    assert command == "run"
    assert client.cancel(request_id) == "interrupted"
    given = []
    with pytest.raises(RemoteError) as caught:
        given.extend(items)
    assert caught.value.type == "Cancelled"
    assert given in ([], [1])  # what had come before the cancel
    assert client.get("streamed:state")["closed"] == 1


def test_the_timeout_bounds_each_wait_for_an_item_not_the_whole_stream(client):
    # 40 items 0.05 s apart take about 2 s, twice the timeout.
    assert list(client.stream("run", ["streamed:counted", 40, 0.05], timeout=1.0)) == list(range(40))
    items = client.stream("run", ["streamed:stalling", 2], timeout=0.5)
    assert [next(items), next(items)] == [0, 1]
    with pytest.raises(TimeoutError) as caught:
        next(items)
    assert str(caught.value).startswith("no item or reply of run within 0.5 s from ")
    assert str(caught.value).endswith("; cancelled it")
    assert caught.value.__cause__.type == "Cancelled"
    assert client.get("streamed:state")["closed"] == 2


def test_an_error_in_the_generator_comes_after_the_items_before_it(client):
    items = client.stream("run", ["streamed:failing", 3])
    assert list(itertools.islice(items, 3)) == [0, 1, 2]
    with pytest.raises(RemoteError) as caught:
        next(items)
    assert (caught.value.type, caught.value.message) == ("ValueError", "broke after 3 items")


def test_a_list_result_gives_its_items_and_anything_else_is_a_type_error(client):
    assert list(client.stream("run", ["builtins:list", "abc"])) == ["a", "b", "c"]
    assert list(client.stream("run", ["builtins:iter", []])) == []
    with pytest.raises(TypeError, match=r"^run returned int, not an iterator or a list: use call\(\) for it$"):
        list(client.stream("run", ["builtins:len", "abc"]))
    with pytest.raises(ValueError, match="window must be a whole number of items from 1 to 1024, not 0"):
        client.stream("run", ["builtins:iter", []], window=0)


def test_a_streams_progress_reaches_its_callback(client):
    updates = []
    assert list(client.stream("run", ["streamed:progressing", 30], on_progress=updates.append)) == list(range(30))
    assert (updates[0]["done"], updates[-1]["done"], updates[-1]["total"]) == (1, 30, 30)


def test_a_request_the_server_cannot_read_fails_at_once_while_a_stream_waits(client):
    items = client.stream("run", ["streamed:counted", 100], window=2)
    assert next(items) == 0
    # The stream waits for the client, its reply still to come: the error is the unreadable request's.
    with pytest.raises(RemoteError) as caught:
        client.call("run", ["math:sqrt", float("nan")], timeout=5)
    assert caught.value.type == "ProtocolError"
    assert list(items) == list(range(1, 100))


def test_closing_the_client_cancels_its_open_streams(client):
    items = client.stream("run", ["itertools:count"])
    assert next(items) == 0
    client.close()  # over stdio the server stops once the stream is cancelled, at once
    assert client.process.returncode == 0
    with pytest.raises(ConnectionError):
        list(items)


def test_messages_that_only_look_like_a_calls_go_to_the_push_handlers(client):
    others = pushed(client)
    progress = []
    client.on("progress", progress.append)
    look_alike = {"tag": "progress", "id": 99999, "done": 1, "total": None, "message": None}
    assert client.call("run", ["liaison.send", look_alike], on_progress=progress.append) == 1
    assert client.run("liaison.send", {"tag": ["not", "a", "name"]}) == 1
    assert client.run("liaison.send", {"tag": "progress", "done": 0.5}) == 1
    assert progress == [look_alike, {"tag": "progress", "done": 0.5}]
    assert others == [look_alike, {"tag": ["not", "a", "name"]}, {"tag": "progress", "done": 0.5}]
