"""Every Companion command, driven through a real server by a real websocket client."""
import json
import math

import pytest

import sample
from liaison import Companion


@pytest.fixture
def client(make_server, connect):
    return connect(make_server(Companion({"sample": sample})))


def test_ping(client):
    assert client.call("ping") == "pong"


def test_run_with_args_and_kwargs(client):
    assert client.call("run", "math:pow", 2, 10) == 1024
    assert client.call("run", "sample:echo", 1, "two", key=[3]) == {"args": [1, "two"], "kwargs": {"key": [3]}}


def test_run_reports_errors_from_called_code(client):
    error = client.error("run", "sample:fail", "it broke")
    assert error["type"] == "ValueError"
    assert error["message"] == "it broke"
    assert any("it broke" in line for line in error["traceback"])


def test_run_system_exit_is_an_error_reply_and_server_keeps_serving(client):
    assert client.error("run", "sample:exit_now")["type"] == "SystemExit"
    assert client.call("ping") == "pong"


def test_run_refuses_non_callable(client):
    error = client.error("run", "math:pi")
    assert error["type"] == "CommandError"
    assert "not callable" in error["message"]


def test_try_success_and_failure(client):
    assert client.call("try", "math:sqrt", 9) == {"success": True, "result": 3.0}
    outcome = client.call("try", "sample:fail", "nope")
    assert outcome["success"] is False
    assert outcome["result"][0] == "Traceback (most recent call last):\n"
    assert outcome["result"][1].startswith('  File "{}", line '.format(sample.__file__))
    assert outcome["result"][-1] == "ValueError: nope\n"


def test_init_stores_instance_and_returns_name(client):
    assert client.call("init", "p", "sample:Point", 3, y=4) == "p"
    assert client.call("run", "p.norm") == 5.0
    assert client.call("get", "p.x") == 3


def test_init_passes_kwargs_named_like_its_own_parameters(client):
    assert client.call("init", "p", "sample:Point", 1, name="origin") == "p"
    assert client.call("get", "p.name") == "origin"
    kwargs = {"fcn": 1, "self": 2, "name": 3, "cls": 4}
    reply = client.send(json.dumps({"command": {"command": "run", "args": ["sample:echo"], "kwargs": kwargs}}))
    assert reply["response"] == {"args": [], "kwargs": kwargs}
    reply = client.send(json.dumps({"command": {"command": "try", "args": ["sample:echo"], "kwargs": kwargs}}))
    assert reply["response"] == {"success": True, "result": {"args": [], "kwargs": kwargs}}


def test_init_missing_arguments(client):
    error = client.error("init", "p")
    assert error["type"] == "CommandError"
    assert "cls" in error["message"]


def test_store_and_get(client):
    assert client.call("store", "data", {"a": [1, 2, {"b": "c"}]}) == "data"
    assert client.call("get", "data") == {"a": [1, 2, {"b": "c"}]}
    assert client.call("get", 'data["a"][2]["b"]') == "c"
    assert client.call("get", "data['a'][-1]") == {"b": "c"}


def test_store_rejects_names_that_cannot_be_referenced(client):
    for name in ["", "two words", 5, None]:
        assert client.error("store", name, 1)["type"] == "CommandError"


def test_register_target_and_default_name(client):
    assert client.call("register", "root", "math:sqrt") == "root"
    assert client.call("run", "root", 4) == 2.0
    assert client.call("register", None, "os.path:join") == "join"
    assert client.call("get", "join.__name__") == "join"


def test_register_without_name_needs_dunder_name(client):
    client.call("store", "value", 5)
    error = client.error("register", None, "$value")
    assert "__name__" in error["message"]


def test_exists_never_raises(client):
    client.call("store", "thing", {"k": 1})
    assert client.call("exists", "thing") is True
    assert client.call("exists", 'thing["k"]') is True
    assert client.call("exists", "$thing") is True
    assert client.call("exists", 'thing["missing"]') is False
    assert client.call("exists", "nothing_here") is False
    assert client.call("exists", "no_such_module_xyz:attr") is False
    assert client.call("exists", "$nothing") is False
    assert client.call("exists", "math:pi") is True
    assert client.call("exists", "!!!") is False
    assert client.call("exists", 42) is False


def test_namespace_holds_companion_and_liaison(client):
    assert client.call("exists", "companion") is True
    assert client.call("exists", "liaison") is True
    assert client.call("run", "companion.ping") == "pong"


def test_wrong_argument_counts_name_the_command(client):
    error = client.error("get")
    assert error["type"] == "CommandError"
    assert error["message"].startswith("get:")
    assert "usage: get(target)" in error["message"]
    assert client.error("ping", 1)["message"].startswith("ping:")
    assert client.error("store", "x", 1, 2)["message"].startswith("store:")
    assert client.error("run")["message"].startswith("run:")


def test_unknown_command(client):
    error = client.error("explode")
    assert error["type"] == "CommandError"
    assert "explode" in error["message"] and "ping" in error["message"]


# Target resolution.

def test_module_colon_attribute_chain(client):
    assert client.call("get", "math:pi") == math.pi
    assert client.call("get", "os.path:join.__name__") == "join"
    assert client.call("get", "sample:Point.norm.__name__") == "norm"


def test_dotted_path_resolves_longest_module_prefix(client):
    assert client.call("run", "os.path.join", "x", "y") in ("x/y", "x\\y")
    assert client.call("get", "math.pi") == math.pi
    assert client.call("get", "json.decoder.JSONDecodeError.__name__") == "JSONDecodeError"


def test_namespace_walk_attributes_keys_indices(client):
    client.call("init", "p", "sample:Point", 1, 2)
    assert client.call("get", "p.tags") == {"colour": "red", "sizes": [1, 2, 3]}
    assert client.call("get", 'p.tags["sizes"][1]') == 2
    assert client.call("get", 'p.tags["sizes"][-1]') == 3
    assert client.call("run", "p.moved", dx=1) == {"x": 2, "y": 2}


def test_namespace_name_shadows_module(client):
    client.call("store", "math", {"pi": 3})
    assert client.call("get", 'math["pi"]') == 3
    assert client.call("get", "math:pi") == math.pi


@pytest.mark.parametrize("target, words", [
    ("no_such_module_xyz:thing", ["no module named 'no_such_module_xyz'"]),
    ("no_such_name_xyz", ["no name 'no_such_name_xyz' in the namespace"]),
    ("math:nope", ["module 'math' has no attribute 'nope'", "math:nope"]),
    ("math.nope", ["module 'math' has no attribute 'nope'"]),
    ("sample.Point.missing", ["class 'Point' has no attribute 'missing'"]),
    ("companion.nothing", ["'Companion' object has no attribute 'nothing'", "companion.nothing"]),
    ('companion.namespace["zzz"]', ["has no item 'zzz'"]),
    ("1abc", ["not a valid target"]),
    ("math:pi + 1", ["not a valid target", "' + 1'"]),
    ("os;rm:x", ["not a valid module name"]),
])
def test_resolution_errors_name_the_failing_part(client, target, words):
    error = client.error("get", target)
    assert error["type"] == "ResolveError"
    for word in words:
        assert word in error["message"]


def test_no_eval_of_expressions(client):
    error = client.error("get", "__import__('os').getpid()")
    assert error["type"] == "ResolveError"


# $ references.

def test_dollar_reference_in_args_kwargs_and_nested(client):
    client.call("init", "p", "sample:Point", 5, 6)
    assert client.call("run", "sample:describe", "$p") == ["Point", 5, 6]
    assert client.call("run", "sample:describe", value="$p") == ["Point", 5, 6]
    nested = client.call("run", "sample:echo", [{"deep": ["$p.x", "$p.tags[\"colour\"]"]}])
    assert nested == {"args": [[{"deep": [5, "red"]}]], "kwargs": {}}


def test_double_dollar_is_literal(client):
    assert client.call("run", "sample:echo", "$$text", "$$$x") == {"args": ["$text", "$$x"], "kwargs": {}}


def test_dollar_reference_to_missing_name(client):
    error = client.error("run", "sample:echo", "$ghost")
    assert error["type"] == "ResolveError"
    assert "ghost" in error["message"]


def test_dollar_reference_only_reaches_the_namespace(client):
    assert "register 'math:pi'" in client.error("run", "sample:echo", "$math:pi")["message"]
    assert "no name 'math'" in client.error("run", "sample:echo", "$math.pi")["message"]


def test_dollar_reference_as_target_and_store_alias(client):
    client.call("init", "p", "sample:Point", 3, 4)
    assert client.call("run", "$p.norm") == 5.0
    assert client.call("store", "alias", "$p") == "alias"
    assert client.call("get", "alias.x") == 3
    assert client.call("register", "q", "$p") == "q"
    assert client.call("get", "q.y") == 4
