"""Issue 12 over a raw client: the ``_`` rule on item steps (6), and targets reach what the namespace holds (9)."""
from rawclient import Raw


def error_type(reply):
    """The type name of the exception an error reply reports."""
    assert reply["tag"] == "error", reply
    return reply["exception"]["type"]


# 6. The security checks have no holes a client can open.

def test_the_underscore_rule_holds_for_item_steps(make_server):
    server = make_server(allow_import=["operator", "string"])
    client = Raw(server.server_address[1])
    assert client.call("store", "cfg", {"__builtins__": {"exec": 1}, "ok": 2})["tag"] == "response"
    assert client.call("get", 'cfg["ok"]')["response"] == 2
    assert error_type(client.call("get", 'cfg["__builtins__"]')) == "PolicyError"
    assert error_type(client.call("run", "operator:truth", '$cfg["__builtins__"]')) == "PolicyError"


# 9. Targets reach what the namespace holds, and data is not mistaken for a reference.

def test_keys_holding_a_colon_are_reached_by_every_form(server):
    client = Raw(server.server_address[1])
    client.call("store", "cfg", {"http://x": 1, "a:b": 2})
    assert client.call("get", 'cfg["http://x"]')["response"] == 1
    assert client.call("exists", "cfg['a:b']")["response"] is True
    assert client.call("run", "builtins:abs", '$cfg["a:b"]')["response"] == 2


def test_any_name_store_accepts_can_be_resolved(server):
    client = Raw(server.server_address[1])
    assert client.call("store", "données", 5)["tag"] == "response"
    assert client.call("get", "données")["response"] == 5
    assert client.call("run", "builtins:abs", "$données")["response"] == 5


def test_a_key_with_an_escape_json_lacks_is_a_resolve_error(server):
    client = Raw(server.server_address[1])
    client.call("store", "cfg", {"A": 1})
    assert error_type(client.call("get", 'cfg["\\x41"]')) == "ResolveError"


def test_a_dollar_string_that_is_not_a_reference_is_passed_through(server):
    client = Raw(server.server_address[1])
    assert client.call("run", "builtins:str", "$5.00 each")["response"] == "$5.00 each"
