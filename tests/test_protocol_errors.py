"""Error replies as liaison-py sends them (``traceback.format_exception``'s items, less liaison's own
frames) plus the structured exception, built whatever the exception does, for every request."""
import json
import os
import traceback

import pytest
import websocket

import liaison
import liaison_lookalike
import sample
from liaison import Companion

#: How every frame of liaison's own code starts in a formatted traceback.
LIAISON_FRAME = '  File "{}{}'.format(os.path.dirname(liaison.__file__), os.sep)


class Unprintable(Exception):
    """An exception whose str() raises."""

    def __str__(self):
        raise TypeError("no text for you")


def raise_unprintable():
    raise Unprintable()


class SourceRefusingLoader:
    """A module loader whose get_source raises something linecache does not expect."""

    def get_source(self, name):
        raise ValueError("no source for you")


def unformattable_function():
    """A function whose traceback cannot be formatted: its module's loader fails to give its source."""
    namespace = {"__name__": "ghost_module", "__loader__": SourceRefusingLoader()}
    code = compile("def fail():\n    raise KeyError('ghost')\n", "/nonexistent/ghost_module.py", "exec")
    exec(code, namespace)
    return namespace["fail"]


def raise_in_a_nested_call(message):
    """Called code whose error is raised one call deeper."""
    return fail_deeper(message)


def fail_deeper(message):
    raise ValueError(message)


def raise_chained(companion):
    """Raise while handling an error caused by one that liaison's frames caught (in ``Companion.attempt``)."""
    failed = companion.attempt("nested", "inner")["result"]
    try:
        raise KeyError("during") from failed
    except KeyError:
        raise RuntimeError("outer")


class BrokenJSON:
    """A result whose ``getJSON()`` raises, so that encoding the reply fails in called code."""

    def getJSON(self):
        raise TypeError("no JSON for you")


def as_python_prints(call, *args):
    """What ``traceback.format_exception`` gives for the exception ``call(*args)`` raises here, less
    the frame of this function and liaison's: what an error reply about the same call must hold."""
    try:
        call(*args)
    except Exception as error:
        items = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        return [item for item in items if not item.startswith(LIAISON_FRAME)]
    raise AssertionError("{} did not raise".format(call))


@pytest.fixture
def client(make_server, connect):
    namespace = {"sample": sample, "unprintable": raise_unprintable, "unformattable": unformattable_function(),
                 "nested": raise_in_a_nested_call, "chained": raise_chained, "broken": BrokenJSON()}
    client = connect(make_server(Companion(namespace)))
    client.ws.settimeout(10)
    return client


def test_error_is_format_exceptions_items_from_the_called_code_on_and_exception_holds_type_and_message(client):
    reply = client.request("run", "sample:fail", "boom")
    assert list(reply) == ["error", "exception", "tag", "evt"]
    assert reply["tag"] == "error"
    assert reply["exception"] == {"type": "ValueError", "message": "boom"}
    items = reply["error"]
    assert items == ["Traceback (most recent call last):\n", items[1], "ValueError: boom\n"]
    assert items[1].startswith('  File "{}", line '.format(sample.__file__))
    assert ", in fail\n    raise ValueError(message)\n" in items[1]
    assert items == as_python_prints(sample.fail, "boom")


def test_an_error_raised_deeper_in_called_code_is_what_python_prints_for_it_less_liaisons_frames(client):
    error = client.error("run", "nested", "deep")
    items = error["traceback"]
    assert items[0] == "Traceback (most recent call last):\n"
    assert items[1].startswith('  File "{}", line '.format(__file__))
    assert ", in raise_in_a_nested_call\n" in items[1] and ", in fail_deeper\n" in items[2]
    assert len(items) == 4 and items[3] == "ValueError: deep\n"
    assert "".join(items) == "".join(as_python_prints(raise_in_a_nested_call, "deep"))


def test_a_module_named_like_liaison_is_called_code(client):
    error = client.error("run", "liaison_lookalike:fail", "mine")
    assert error["traceback"][1].startswith('  File "{}", line '.format(liaison_lookalike.__file__))
    assert len(error["traceback"]) == 3


def test_an_error_in_a_c_function_called_directly_is_its_exception_line_alone(client):
    error = client.error("run", "math:sqrt", -1)
    assert error["traceback"] == ["ValueError: math domain error\n"]


def test_a_chain_of_exceptions_is_each_traceback_less_liaisons_frames(client):
    error = client.error("run", "chained", "$companion")
    assert error["type"] == "RuntimeError"
    items = error["traceback"]
    assert items == as_python_prints(raise_chained, Companion({"nested": raise_in_a_nested_call}))
    assert not any(item.startswith(LIAISON_FRAME) for item in items)
    text = "".join(items)
    assert text.count("Traceback (most recent call last):\n") == 3
    assert "\nThe above exception was the direct cause of the following exception:\n\n" in text
    assert "\nDuring handling of the above exception, another exception occurred:\n\n" in text
    assert text.index("ValueError: inner") < text.index("KeyError: 'during'") < text.index("RuntimeError: outer")
    # The error that liaison caught starts at the called code, like the others.
    assert items[1].startswith('  File "{}", line '.format(__file__)) and ", in raise_in_a_nested_call\n" in items[1]


def test_an_error_raised_encoding_a_result_starts_in_the_called_code_that_raised_it(client):
    error = client.error("get", "broken")
    assert error["type"] == "TypeError"
    assert error["traceback"] == as_python_prints(BrokenJSON().getJSON)
    assert len(error["traceback"]) == 3 and ", in getJSON\n" in error["traceback"][1]


def test_a_try_failure_holds_the_same_items_as_the_error_reply(client):
    assert client.call("try", "nested", "same")["result"] == client.error("run", "nested", "same")["traceback"]
    assert client.call("try", "math:sqrtt") == {
        "success": False, "result": ["ResolveError: cannot resolve math:sqrtt: module 'math' has no attribute 'sqrtt'\n"]}


def test_a_message_less_exception_ends_with_just_its_type(client):
    assert client.call("init", "finished", "builtins:iter", []) == "finished"
    reply = client.request("run", "builtins:next", "$finished")
    assert reply["exception"] == {"type": "StopIteration", "message": ""}
    assert reply["error"] == ["StopIteration\n"]


def test_a_typo_in_a_target_is_one_item_with_no_traceback(client):
    error = client.error("run", "math:sqrtt")
    assert error["traceback"] == ["ResolveError: cannot resolve math:sqrtt: module 'math' has no attribute 'sqrtt'\n"]
    for target in ["no_such_module_xyz:thing", "sample.Point.missing", "math:pi + 1"]:
        error = client.error("run", target)
        assert error["traceback"] == ["ResolveError: " + error["message"] + "\n"], target


def test_command_errors_are_one_item(client):
    reply = client.request("explode")
    assert reply["exception"]["type"] == "CommandError"
    assert reply["error"] == ["CommandError: " + reply["exception"]["message"] + "\n"]
    reply = client.request("get")
    assert reply["error"] == ["CommandError: get: missing a required argument: 'target'; usage: get(target)\n"]


def test_a_refused_reentry_is_one_item(client):
    error = client.error("run", "companion.dispatch", "get", ["math:pi"])
    assert error["type"] == "ReentryError"
    assert error["traceback"] == ["ReentryError: " + error["message"] + "\n"]


def test_a_command_the_stopping_server_does_not_run_is_one_item(make_server, connect):
    server = make_server(Companion(), dispatcher=lambda call: None)
    server.cancel_pending()  # as when it stops: commands for the host's thread are refused
    error = connect(server).error("run", "math:sqrt", 4)
    assert error["type"] == "ServerStopped"
    assert error["traceback"] == ["ServerStopped: " + error["message"] + "\n"]


def test_an_exception_whose_str_raises_gets_one_reply_and_the_connection_goes_on(client):
    reply = client.request("run", "unprintable")
    assert reply["tag"] == "error"
    assert reply["exception"] == {"type": "Unprintable", "message": "<str() of Unprintable raised TypeError>"}
    assert reply["error"][-1].startswith("test_protocol_errors.Unprintable: <")
    outcome = client.call("try", "unprintable")
    assert outcome["success"] is False and outcome["result"][-1] == reply["error"][-1]
    assert client.call("ping") == "pong"
    assert client.call("get", "sample:Point.__name__") == "Point"


def test_an_exception_whose_traceback_cannot_be_formatted_still_gets_one_reply(client):
    reply = client.request("run", "unformattable")
    assert reply["tag"] == "error"
    assert reply["exception"] == {"type": "KeyError", "message": "'ghost'"}
    assert reply["error"] == ["KeyError: 'ghost'\n"]
    assert client.call("try", "unformattable") == {"success": False, "result": ["KeyError: 'ghost'\n"]}
    assert client.call("ping") == "pong"


def test_an_unencodable_result_is_an_error_reply_echoing_the_request(client):
    reply = client.request("run", "sample:circular")
    assert reply["tag"] == "response"
    reply = client.request("run", "sample:deep", 100000)
    assert reply["exception"]["type"] == "RecursionError"
    assert reply["error"][-1].startswith("RecursionError: ")
    assert reply["evt"]["command"]["args"] == ["sample:deep", 100000]
    assert len(json.dumps(reply)) < 2048


def test_protocol_errors_echo_what_they_can(client):
    client.ws.send("not json")
    reply = json.loads(client.ws.recv())
    assert reply["evt"] is None and reply["error"][0].startswith("ProtocolError: message is not valid JSON")
    assert reply["error"] == ["ProtocolError: " + reply["exception"]["message"] + "\n"]
    client.ws.send("[1]")
    reply = json.loads(client.ws.recv())
    assert reply["evt"] == [1]
    assert reply["exception"] == {"type": "ProtocolError", "message": "a request must be a JSON object, not an array"}


def test_every_failing_request_gets_exactly_one_reply(client):
    for number in range(3):
        client.ws.send(json.dumps({"command": {"command": "run", "args": ["unprintable"]}, "id": number}))
    client.ws.send(json.dumps({"command": {"command": "ping"}, "id": "last"}))
    ids = [json.loads(client.ws.recv())["evt"]["id"] for _ in range(4)]
    assert sorted(ids, key=str) == sorted([0, 1, 2, "last"], key=str)
    client.ws.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        client.ws.recv()
