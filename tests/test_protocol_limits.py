"""Limits on what a request may hold, and replies that are well-formed JSON for every result."""
import json
import sys

import pytest

import sample
from liaison import Companion
from liaison.encoding import LiaisonJSONEncoder
from liaison.protocol import MAX_DEPTH, MAX_INT_DIGITS


def clashing_keys():
    return {1: "int one", "1": "string one"}


def clashing_keys_inside():
    return [{"fine": {None: 0, "null": 1}}]


def distinct_keys():
    return {1: "a", 2.5: "b", None: "c", False: "d", "x": "e"}


class Exported:
    """An object whose getJSON() holds clashing keys."""

    def getJSON(self):
        return {"items": [{2: "two", "2": "deux"}]}


@pytest.fixture
def client(make_server, connect):
    namespace = {"sample": sample, "clashing_keys": clashing_keys, "clashing_keys_inside": clashing_keys_inside,
                 "distinct_keys": distinct_keys, "exported": Exported()}
    client = connect(make_server(Companion(namespace)))
    client.ws.settimeout(30)
    return client


@pytest.fixture(params=["default", "off"])
def int_limit(request):
    """CPython's own limit on int() digits (3.11+) as it is, then turned off as served code may do."""
    set_limit = getattr(sys, "set_int_max_str_digits", None)
    if set_limit is None or request.param == "default":
        yield
        return
    before = sys.get_int_max_str_digits()
    set_limit(0)
    yield
    set_limit(before)


def send(client, text):
    client.ws.send(text)
    return client.ws.recv()


def request_text(*args):
    return '{"command": {"command": "run", "args": [' + ", ".join(args) + ']}, "id": 7}'


@pytest.mark.parametrize("digits", [MAX_INT_DIGITS + 1, 1000000])
def test_integers_with_too_many_digits_are_refused(client, int_limit, digits):
    for number in ["9" * digits, "-" + "9" * digits]:
        reply = json.loads(send(client, request_text('"builtins:abs"', number)))
        assert reply["tag"] == "error" and reply["evt"] == {"id": 7}  # the id alone, for the client to match
        assert reply["exception"]["type"] == "ProtocolError"
        assert "more than {} digits".format(MAX_INT_DIGITS) in reply["exception"]["message"]
    assert client.call("ping") == "pong"


def test_integers_up_to_the_limit_are_accepted(client, int_limit):
    for number in ["9" * MAX_INT_DIGITS, "-" + "9" * MAX_INT_DIGITS, "1" + "0" * 20]:
        reply = json.loads(send(client, request_text('"sample:echo"', number)))
        assert reply["response"]["args"] == [int(number)]
    reply = json.loads(send(client, request_text('"sample:echo"', "1" * 5000 + ".5", '"' + "9" * 5000 + '"')))
    assert reply["response"]["args"][1] == "9" * 5000


def parses(text):
    """Whether the json module of this Python parses *text* (its nesting limit differs between versions)."""
    try:
        json.loads(text)
    except RecursionError:
        return False
    return True


def nested(depth):
    """Request text whose deepest array is *depth* levels down, the envelope's two objects included."""
    inner = depth - 3
    return request_text('"sample:echo"', "[" * inner + "]" * inner)


def test_nesting_up_to_the_limit_is_accepted(client):
    reply = json.loads(send(client, nested(MAX_DEPTH)))
    value = reply["response"]["args"][0]
    for _ in range(MAX_DEPTH - 4):
        value = value[0]
    assert value == []


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 494, 495, 5000, 1000000])
def test_deeper_nesting_is_refused_with_a_short_reply(client, depth):
    text = send(client, nested(depth))
    assert len(text.encode()) < 2048
    reply = json.loads(text)
    assert reply["exception"] == {"type": "ProtocolError", "message": "message is nested too deeply: "
                                  "at most {} levels of arrays and objects".format(MAX_DEPTH)}
    # The id alone, for the client to match, when this Python's json can parse the message at all.
    assert reply["evt"] == ({"id": 7} if parses(nested(depth)) else None)
    assert client.call("ping") == "pong"


def test_deep_objects_count_like_arrays(client):
    inner = MAX_DEPTH - 2
    text = request_text('"sample:echo"', '{"a": ' * inner + "1" + "}" * inner)
    assert "nested too deeply" in json.loads(send(client, text))["exception"]["message"]


def test_brackets_inside_strings_do_not_count(client):
    text = request_text('"sample:echo"', json.dumps("[" * 500 + "{" * 500))
    assert json.loads(send(client, text))["response"]["args"] == ["[" * 500 + "{" * 500]


def test_many_shallow_arrays_are_accepted(client):
    points = [[index, index + 0.5] for index in range(20000)]
    assert client.call("run", "builtins:len", points) == 20000


def strict_pairs(pairs):
    """object_pairs_hook that fails on a duplicate member name."""
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), "duplicate member names {}".format(names)
    return dict(pairs)


@pytest.mark.parametrize("target, words", [
    ("clashing_keys", ["keys 1 and '1'", 'JSON name "1"']),
    ("clashing_keys_inside", ["keys None and 'null'", 'JSON name "null"']),
    ("exported", ["keys 2 and '2'"]),
])
def test_keys_that_would_share_a_json_name_are_refused(client, target, words):
    client.ws.send(json.dumps({"command": {"command": "run" if target != "exported" else "get", "args": [target]}}))
    reply = json.loads(client.ws.recv(), object_pairs_hook=strict_pairs)
    assert reply["exception"]["type"] == "DuplicateKeyError"
    assert reply["error"] == ["DuplicateKeyError: " + reply["exception"]["message"] + "\n"]
    for word in words:
        assert word in reply["exception"]["message"]


def test_distinct_non_string_keys_are_written_as_json_names(client):
    client.ws.send(json.dumps({"command": {"command": "run", "args": ["distinct_keys"]}}))
    reply = json.loads(client.ws.recv(), object_pairs_hook=strict_pairs)
    assert reply["response"] == {"1": "a", "2.5": "b", "null": "c", "false": "d", "x": "e"}


def test_the_try_result_refuses_clashing_keys_too(client):
    reply = client.request("try", "clashing_keys")
    assert reply["exception"]["type"] == "DuplicateKeyError"


def test_liaison_json_encoder_applies_the_conversions():
    value = {"nan": float("nan"), "set": {3}, "module": json, "error": KeyError("k"), "point": sample.Point(1, 2)}
    text = json.dumps(value, cls=LiaisonJSONEncoder)
    assert json.loads(text) == {"nan": None, "set": [3], "module": "python:///json", "error": ["KeyError: 'k'\n"],
                                "point": {"x": 1, "y": 2}}
    assert json.dumps([1, {"a": "é"}], cls=LiaisonJSONEncoder) == '[1, {"a": "\\u00e9"}]'
    assert json.dumps({"b": (1, 2)}, cls=LiaisonJSONEncoder, indent=1, sort_keys=True) == '{\n "b": [\n  1,\n  2\n ]\n}'
    assert issubclass(LiaisonJSONEncoder, json.JSONEncoder)
    with pytest.raises(ValueError, match="JSON name"):
        json.dumps(clashing_keys(), cls=LiaisonJSONEncoder)


@pytest.mark.parametrize("offset", [(1 << 20) - 10, (1 << 20) - MAX_INT_DIGITS, 3 << 20])
def test_a_long_integer_deep_inside_a_large_message_is_refused(client, int_limit, offset):
    before = request_text('"builtins:len"', "@").index("@") + len('["') + len('", ')
    padding = "x" * (offset - before)
    text = request_text('"builtins:len"', '["' + padding + '", ' + "7" * (MAX_INT_DIGITS + 1) + "]")
    assert text.index("7" * 10) == offset
    reply = json.loads(send(client, text))
    assert "more than" in reply["exception"]["message"] and "digits" in reply["exception"]["message"]
    fine = text.replace("7" * (MAX_INT_DIGITS + 1), "7" * MAX_INT_DIGITS)
    assert json.loads(send(client, fine))["response"] == 2
