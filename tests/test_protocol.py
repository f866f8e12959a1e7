"""The message envelope: bad input gets an error reply, results become strict JSON."""
import json
import math
import subprocess
import sys

import pytest
import websocket

import sample
from liaison import Companion


@pytest.fixture
def client(make_server, connect):
    return connect(make_server(Companion({"sample": sample})))


def strict_loads(text):
    """Parse a reply, failing on NaN or Infinity (not JSON per RFC 8259)."""
    def refuse(name):
        raise AssertionError("reply holds {}, which is not JSON".format(name))
    return json.loads(text, parse_constant=refuse)


def send_raw(client, text):
    client.ws.send(text)
    return strict_loads(client.ws.recv())


def test_reply_shape_and_id_echo(client):
    message = {"command": {"command": "ping"}, "id": {"any": ["json", 1]}}
    reply = send_raw(client, json.dumps(message))
    assert reply == {"response": "pong", "tag": "response", "evt": message}
    assert list(reply) == ["response", "tag", "evt"]


def test_args_and_kwargs_are_optional_or_null(client):
    for body in [{"command": "ping"}, {"command": "ping", "args": None, "kwargs": None}]:
        assert send_raw(client, json.dumps({"command": body, "id": 1}))["response"] == "pong"


def test_id_is_optional(client):
    assert send_raw(client, '{"command": {"command": "ping"}}')["response"] == "pong"


@pytest.mark.parametrize("text, words, echoed", [
    ("not json", ["not valid JSON"], False),
    ("", ["not valid JSON"], False),
    ('{"command": ', ["not valid JSON"], False),
    ("[1, 2]", ["must be a JSON object", "an array"], True),
    ('"ping"', ["must be a JSON object", "a string"], True),
    ("{}", ['needs "command"'], True),
    ('{"command": "ping"}', ['needs "command"'], True),
    ('{"command": {"args": []}}', ['"command.command" must be a string'], True),
    ('{"command": {"command": 5}}', ['"command.command" must be a string'], True),
    ('{"command": {"command": "ping", "args": {"a": 1}}}', ['"command.args" must be a list'], True),
    ('{"command": {"command": "ping", "kwargs": [1]}}', ['"command.kwargs" must be an object'], True),
    ('{"command": {"command": "run", "args": [NaN]}}', ["NaN is not valid JSON"], False),
    ('{"command": {"command": "run", "args": [Infinity]}}', ["Infinity is not valid JSON"], False),
])
def test_malformed_requests_get_error_replies(client, text, words, echoed):
    reply = send_raw(client, text)
    assert reply["tag"] == "error"
    assert reply["exception"]["type"] == "ProtocolError"
    assert reply["error"] == ["ProtocolError: " + reply["exception"]["message"] + "\n"]
    for word in words:
        assert word in reply["exception"]["message"]
    assert reply["evt"] == (json.loads(text) if echoed else None)
    assert send_raw(client, '{"command": {"command": "ping"}}')["response"] == "pong"


def test_deeply_nested_request_gets_an_error_reply(client):
    depth = 100000
    reply = send_raw(client, '{"command": {"command": "store", "args": ["x", ' + "[" * depth + "]" * depth + "]}}")
    assert reply["tag"] == "error"
    assert "nested too deeply" in reply["exception"]["message"]
    assert send_raw(client, '{"command": {"command": "ping"}}')["response"] == "pong"


def test_binary_frame_with_json_is_accepted(client):
    client.ws.send_binary(json.dumps({"command": {"command": "ping"}, "id": 3}).encode())
    assert strict_loads(client.ws.recv())["response"] == "pong"


def test_binary_frame_that_is_not_utf8_gets_error_reply(client):
    client.ws.send_binary(b"\xff\xfe{}")
    reply = strict_loads(client.ws.recv())
    assert reply["tag"] == "error" and "UTF-8" in reply["exception"]["message"]


def test_unicode_round_trip(client):
    text = "héllo ✓ 漢字 \U0001F600"
    assert client.call("run", "sample:echo", text) == {"args": [text], "kwargs": {}}


def test_conversions_of_results_json_cannot_hold(client):
    raw = client.ws
    raw.send(json.dumps({"command": {"command": "run", "args": ["sample:weird_values"]}, "id": 1}))
    values = strict_loads(raw.recv())["response"]
    assert values["nan"] is None
    assert values["inf"] == [None, None]
    assert values["tuple"] == [1, 2]
    assert values["set"] == [5]
    assert values["date"] == "2024-01-02T03:04:05"
    assert values["bytes"] == "AP9oaQ=="
    assert values["module"] == "python:///math"
    assert values["class"] == "python:///sample:Point"
    assert values["function"] == "python:///sample:echo"
    assert values["builtin"] == "python:///builtins:len"
    assert values["error"] == ["KeyError: 'k'\n"]
    assert values["opaque"] == "<opaque>"
    assert values["point"] == {"x": 3, "y": 4}
    assert values["3"] == "int key"
    assert values["(1, 2)"] == "tuple key"


def test_ranges_and_a_dicts_views_become_lists(client):
    assert client.call("run", "builtins:range", 3) == [0, 1, 2]
    assert client.call("run", "builtins:range", 10, 0, -4) == [10, 6, 2]
    assert client.call("store", "d", {"a": 1, "b": [2, 3]}) == "d"
    assert client.call("run", "d.keys") == ["a", "b"]
    assert client.call("run", "d.values") == [1, [2, 3]]
    assert client.call("run", "d.items") == [["a", 1], ["b", [2, 3]]]
    expected = {"keys": ["one", "two"], "values": [1, [2]], "items": [[["one", 1], ["two", [2]]]],
                "range": [0, 1, 2], "stepped": [10, 6, 2], "empty": []}
    assert client.call("run", "sample:views_and_ranges") == expected
    assert client.call("run", "sample:views_and_ranges", True) == dict(expected, nan=None)


def test_nan_result_becomes_null(client):
    assert client.call("run", "builtins:float", "nan") is None
    assert client.call("get", "math:inf") is None


def test_circular_result_is_still_answered(client):
    result = client.call("run", "sample:circular")
    assert result[0] == 1 and "circular" in result[1]


def test_too_deep_result_gets_an_error_reply(client):
    error = client.error("run", "sample:deep", 100000)
    assert error["type"] == "RecursionError"
    assert client.call("ping") == "pong"


def test_lone_surrogate_result_is_escaped(client):
    client.ws.send(json.dumps({"command": {"command": "run", "args": ["sample:lone_surrogate"]}, "id": 1}))
    assert strict_loads(client.ws.recv())["response"] == "a\ud800b"


def test_numpy_values_are_converted(client):
    assert client.call("run", "numpy:array", [[1.5, None], [3, 4]], dtype="float64") == [[1.5, None], [3.0, 4.0]]
    assert client.call("run", "numpy:int64", 7) == 7
    assert client.call("run", "numpy:float32", 0.5) == 0.5
    assert client.call("run", "numpy:bool_", 1) is True


def test_encoding_does_not_import_numpy():
    code = ("import sys, liaison.websocket\n"
            "from liaison.encoding import dumps\n"
            "print(dumps([1, float('nan'), {2}]), 'numpy' in sys.modules)")
    output = subprocess.check_output([sys.executable, "-c", code]).decode().split()
    assert output == ["[1,", "null,", "[2]]", "False"]


def test_each_client_gets_only_its_own_replies(server, connect):
    first, second = connect(server), connect(server)
    first.ws.send(json.dumps({"command": {"command": "run", "args": ["math:sqrt", 4]}, "id": "a"}))
    second.ws.send(json.dumps({"command": {"command": "run", "args": ["math:sqrt", 9]}, "id": "b"}))
    assert strict_loads(first.ws.recv())["evt"]["id"] == "a"
    assert strict_loads(second.ws.recv())["evt"]["id"] == "b"
    second.ws.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        second.ws.recv()
    assert math.isfinite(first.call("run", "math:sqrt", 2))
