"""Error replies as liaison-py sends them (a list of traceback lines) plus the structured exception,
built whatever the exception does, for every request."""
import json

import pytest
import websocket

import sample
from liaison import Companion


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


@pytest.fixture
def client(make_server, connect):
    namespace = {"sample": sample, "unprintable": raise_unprintable, "unformattable": unformattable_function()}
    client = connect(make_server(Companion(namespace)))
    client.ws.settimeout(10)
    return client


def test_error_is_the_list_of_traceback_lines_and_exception_holds_type_and_message(client):
    reply = client.request("run", "sample:fail", "boom")
    assert list(reply) == ["error", "exception", "tag", "evt"]
    assert reply["tag"] == "error"
    assert reply["exception"] == {"type": "ValueError", "message": "boom"}
    lines = reply["error"]
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
    assert all(isinstance(line, str) and "\n" not in line for line in lines)
    assert "\n".join(lines).count('File "') >= 2
    assert any("raise ValueError(message)" in line for line in lines)


def test_a_message_less_exception_ends_with_just_its_type(client):
    assert client.call("init", "finished", "builtins:iter", []) == "finished"
    reply = client.request("run", "builtins:next", "$finished")
    assert reply["exception"] == {"type": "StopIteration", "message": ""}
    assert reply["error"][-1] == "StopIteration"


def test_command_errors_are_one_line(client):
    reply = client.request("explode")
    assert reply["exception"]["type"] == "CommandError"
    assert reply["error"] == ["CommandError: " + reply["exception"]["message"]]
    reply = client.request("get")
    assert reply["error"] == ["CommandError: get: missing a required argument: 'target'; usage: get(target)"]


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
    assert reply["error"] == ["KeyError: 'ghost'"]
    assert client.call("try", "unformattable") == {"success": False, "result": ["KeyError: 'ghost'"]}
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
