"""Targets reach what the namespace holds, and data that merely starts with ``$`` stays data."""
import pytest

import sample
from liaison import Companion


@pytest.fixture
def client(make_server, connect):
    client = connect(make_server(Companion({"sample": sample})))
    client.call("store", "cfg", {"http://x": 1, "a:b": 2, "A": 3, "é": 4, "a\\b": 5, "_": 6})
    return client


@pytest.mark.parametrize("target, value", [
    ('cfg["http://x"]', 1),
    ("cfg['http://x']", 1),
    ('cfg["a:b"]', 2),
    ("cfg['a:b']", 2),
    ('cfg[ "a:b" ]', 2),
    ('cfg["\\u0041"]', 3),
    ('cfg["\\u00e9"]', 4),
    ('cfg["é"]', 4),
    ('cfg["a\\\\b"]', 5),
    ("cfg['a\\b']", 5),
])
def test_keys_holding_colons_and_escapes(client, target, value):
    assert client.call("get", target) == value
    assert client.call("exists", target) is True
    assert client.call("exists", "$" + target) is True
    assert client.call("run", "sample:echo", "$" + target) == {"args": [value], "kwargs": {}}


def test_module_targets_still_split_at_the_first_colon(client):
    client.call("store", "holder", {"key:with:colons": "found"})
    assert client.call("get", "sample:Point.norm.__name__") == "norm"
    assert client.call("get", 'sample:weird_values.__name__') == "weird_values"
    assert client.call("register", "values", "sample:weird_values") == "values"
    assert client.call("get", 'holder["key:with:colons"]') == "found"


@pytest.mark.parametrize("target", ['cfg["\\x41"]', 'cfg["\\q"]', 'cfg["\\u12"]', 'cfg["tab\there"]'])
def test_keys_with_escapes_json_does_not_know_are_resolve_errors(client, target):
    error = client.error("get", target)
    assert error["type"] == "ResolveError"
    assert "JSON escapes such as \\u0041" in error["message"]
    assert client.call("exists", target) is False
    assert client.error("run", "sample:echo", "$" + target)["type"] == "ResolveError"


@pytest.mark.parametrize("name", ["données", "Ωmega", "名前", "x_1é"])
def test_every_name_store_accepts_resolves(client, name):
    assert client.call("store", name, {"clé": [1, 2]}) == name
    assert client.call("get", name) == {"clé": [1, 2]}
    assert client.call("get", name + '["clé"][1]') == 2
    assert client.call("exists", name) is True
    assert client.call("run", "sample:echo", "$" + name) == {"args": [{"clé": [1, 2]}], "kwargs": {}}
    assert client.call("init", name, "sample:Point", 1, 2) == name
    assert client.call("run", name + ".norm") == pytest.approx(5 ** 0.5)
    assert client.call("get", "$" + name + ".x") == 1


def test_non_identifiers_are_still_refused(client):
    for target in ["x²", "1abc", "a-b", "cfg.1"]:
        assert client.error("get", target)["type"] == "ResolveError", target


@pytest.mark.parametrize("text", ["$5.00 each", "$ x", "$", "$5", "$-", "$p.x + 1", "$cfg[", 'cfg["$x"]',
                                  "$http://x", "$100%"])
def test_strings_starting_with_dollar_that_are_not_references_pass_through(client, text):
    assert client.call("run", "sample:echo", text, key=text) == {"args": [text], "kwargs": {"key": text}}
    assert client.call("run", "sample:echo", [[text]]) == {"args": [[[text]]], "kwargs": {}}
    assert client.call("store", "kept", text) == "kept"
    assert client.call("get", "kept") == text
    assert client.call("exists", text) is False


def test_double_dollar_is_still_the_literal(client):
    assert client.call("run", "sample:echo", "$$text", "$$5.00", "$$cfg") == {
        "args": ["$text", "$5.00", "$cfg"], "kwargs": {}}


def test_references_that_miss_are_still_errors(client):
    assert "ghost" in client.error("run", "sample:echo", "$ghost")["message"]
    assert "has no item 'nope'" in client.error("run", "sample:echo", '$cfg["nope"]')["message"]
    assert "register 'math:pi'" in client.error("run", "sample:echo", "$math:pi")["message"]
    assert client.call("exists", "$ghost") is False
