"""``describe``: what a target is and how to call it, through the same resolver and policy as ``get``."""
import inspect
import json

import pytest

import sample
from liaison import Companion


def plot(x: int, y=1.5, *points, colour="red", size, **options) -> None:
    """Plot points.

    Everything after the first paragraph is left out.
    """


def undocumented(a, b=None):
    pass


def greet(name):
    """Say hello to *name*,
    on two lines."""
    return "hello " + name


@pytest.fixture
def companion():
    companion = Companion({"sample": sample, "plot": plot, "undocumented": undocumented})
    companion.commands["greet"] = greet
    return companion


@pytest.fixture
def client(make_server, connect, companion):
    return connect(make_server(companion))


def test_a_module(client):
    description = client.call("describe", "json")
    assert description["kind"] == "module"
    assert description["name"] == "json"
    assert description["signature"] is None and description["parameters"] is None
    assert description["doc"].startswith("JSON (JavaScript Object Notation)")
    assert "\n" not in description["doc"]
    assert {"dumps", "loads", "JSONDecoder", "decoder"} <= set(description["members"])
    assert not [name for name in description["members"] if name.startswith("_")]
    assert description["members"] == sorted(description["members"])


def test_a_class(client):
    description = client.call("describe", "sample:Point")
    assert description == {
        "kind": "class",
        "name": "sample:Point",
        "signature": "(x, y=0, name=None)",
        "parameters": [
            {"name": "x", "kind": "POSITIONAL_OR_KEYWORD"},
            {"name": "y", "kind": "POSITIONAL_OR_KEYWORD", "default": 0},
            {"name": "name", "kind": "POSITIONAL_OR_KEYWORD", "default": None},
        ],
        "doc": "A small class to build with ``init`` and to walk with attribute targets.",
        "members": ["getJSON", "moved", "norm"],
    }


def test_a_builtin_without_a_signature(client):
    description = client.call("describe", "builtins:getattr")
    assert description["kind"] == "function"
    assert description["name"] == "builtins:getattr"
    assert description["signature"] is None and description["parameters"] is None
    assert description["doc"] and getattr.__doc__.startswith(description["doc"].splitlines()[0])  # 3.12 reworded it
    assert "members" not in description


def test_a_function_with_keyword_only_and_defaulted_parameters(client):
    assert str(inspect.signature(plot)).replace(" ", "") == "(x:int,y=1.5,*points,colour='red',size,**options)->None"
    description = client.call("describe", "plot")
    assert description == {
        "kind": "function",
        "name": "test_companion_describe:plot",
        "signature": str(inspect.signature(plot)),
        "parameters": [
            {"name": "x", "kind": "POSITIONAL_OR_KEYWORD", "annotation": "int"},
            {"name": "y", "kind": "POSITIONAL_OR_KEYWORD", "default": 1.5},
            {"name": "points", "kind": "VAR_POSITIONAL"},
            {"name": "colour", "kind": "KEYWORD_ONLY", "default": "red"},
            {"name": "size", "kind": "KEYWORD_ONLY"},
            {"name": "options", "kind": "VAR_KEYWORD"},
        ],
        "doc": "Plot points.",
    }


def test_methods_references_and_values(client):
    client.call("init", "p", "sample:Point", 3, 4)
    method = client.call("describe", "$p.moved")
    assert method["kind"] == "function" and method["name"] == "sample:Point.moved"
    assert method["signature"] == "(dx=0, dy=0)"
    assert client.call("describe", "p.norm")["doc"] is None
    value = client.call("describe", "p.tags")
    assert value["kind"] == "value" and value["name"] == "p.tags"
    assert value["signature"] is None and value["parameters"] is None and "members" not in value
    assert client.call("describe", "$p")["name"] == "$p"
    assert client.call("describe", "undocumented")["doc"] is None


def test_a_target_that_does_not_resolve_is_an_error(client):
    error = client.error("describe", "math:nope")
    assert error["type"] == "ResolveError" and "has no attribute 'nope'" in error["message"]
    assert client.error("describe", "$ghost")["type"] == "ResolveError"
    assert client.error("describe", 5)["type"] == "CommandError"


def test_a_target_the_import_policy_refuses(make_server, connect):
    guarded = connect(make_server(Companion({"sample": sample}, allow_import=["json", "sample"])))
    for target in ["os:getcwd", "json:_default_encoder", "json.decoder:re"]:
        assert guarded.error("describe", target)["type"] == "PolicyError", target
        assert guarded.error("get", target)["type"] == "PolicyError", target
    assert guarded.call("describe", "json:dumps")["kind"] == "function"


def test_no_target_lists_every_command_with_its_signature(client):
    commands = client.call("describe")["commands"]
    assert sorted(commands) == ["cancel", "describe", "exists", "get", "greet", "hello", "init", "more", "ping",
                                "register", "run", "store", "try"]
    assert commands["cancel"]["signature"] == "(id)"
    assert commands["get"]["signature"] == "(target)"
    assert commands["init"]["signature"] == "(name, cls, /, *args, **kwargs)"
    assert commands["run"]["signature"] == "(fcn, /, *args, **kwargs)"
    assert commands["ping"] == {"signature": "()", "doc": "Answer ``\"pong\"``: a cheap liveness check."}
    assert commands["greet"] == {"signature": "(name)", "doc": "Say hello to *name*, on two lines."}
    assert commands["describe"]["signature"] == "(target=None)"
    assert client.call("describe", None) == client.call("describe")


def test_app_commands_without_a_signature_are_listed(client, companion):
    companion.commands["spell"] = getattr
    assert client.call("describe")["commands"]["spell"]["signature"] is None


def test_describe_result_is_plain_json(client):
    client.ws.send(json.dumps({"command": {"command": "describe", "args": ["sample:echo"]}}))
    reply = json.loads(client.ws.recv())
    assert reply["response"]["signature"] == "(*args, **kwargs)"
    assert reply["response"]["doc"] == "Return what it was given, to see what arrived after ``$`` substitution."
