"""The import policy's ``_`` rule holds at every step of a target: attributes, keys, ``$`` references."""
import pytest

from liaison.policy import ImportPolicy

#: A function in each allowed module, to pass a ``$`` reference to.
ALLOWED_CALLABLE = {"operator": "operator:truth", "string": "string:capwords"}


def reach_module_globals(client, allowed):
    """Store under ``gl`` a module's globals, fetched the way an allowed module lets a client do it:
    ``operator.attrgetter`` or ``string.Formatter.get_field`` take the ``__globals__`` attribute for it,
    so that only item steps stand between the client and ``__builtins__``."""
    method = "$companion.dispatch"
    if allowed == "operator":
        client.call("init", "getter", "operator:attrgetter", "__globals__")
        client.call("init", "gl", "getter", method)
        return "gl"
    client.call("init", "formatter", "string:Formatter")
    client.call("init", "pair", "formatter.get_field", "0.__globals__", [method], {})
    return "pair[0]"


@pytest.mark.parametrize("allowed", ["operator", "string"])
def test_item_steps_with_underscore_keys_are_refused(make_server, connect, allowed):
    client = connect(make_server(allow_import=[allowed]))
    globals_path = reach_module_globals(client, allowed)
    assert client.call("exists", globals_path) is True
    for target in [globals_path + '["__builtins__"]["exec"]', globals_path + "['__builtins__']['exec']",
                   globals_path + '["_StepFailed"]']:
        error = client.error("get", target)
        assert error["type"] == "PolicyError" and "names starting with '_'" in error["message"], target
        assert client.error("run", target, "x = 1")["type"] == "PolicyError"
        assert client.call("exists", target) is False
        assert client.error("run", ALLOWED_CALLABLE[allowed], "$" + target)["type"] == "PolicyError"


@pytest.mark.parametrize("allowed", ["operator", "string"])
def test_attribute_paths_to_builtins_are_refused(make_server, connect, allowed):
    client = connect(make_server(allow_import=[allowed]))
    for target in ['{}.__dict__["__builtins__"]'.format(allowed), '{}:__dict__["__builtins__"]'.format(allowed),
                   '{}:__builtins__["exec"]'.format(allowed)]:
        assert client.error("get", target)["type"] == "PolicyError", target


def test_keys_without_underscore_still_work_under_the_policy(make_server, connect):
    client = connect(make_server(allow_import=["operator"]))
    client.call("store", "cfg", {"a": [10, 20], "_private": 1, "b:c": 2})
    assert client.call("get", 'cfg["a"][-1]') == 20
    assert client.call("get", 'cfg["b:c"]') == 2
    assert client.error("get", 'cfg["_private"]')["type"] == "PolicyError"


def test_without_a_policy_underscore_keys_are_reachable(server, connect):
    client = connect(server)
    client.call("store", "cfg", {"_private": 1})
    assert client.call("get", 'cfg["_private"]') == 1


def test_allows_step():
    policy = ImportPolicy(["math"])
    assert policy.allows_step("name") and policy.allows_step(0) and policy.allows_step(-1)
    assert not policy.allows_step("_name") and not policy.allows_step("__builtins__")
