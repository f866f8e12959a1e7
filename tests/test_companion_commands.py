"""Each Companion's own command table: callables only, app commands treated like built-ins,
and the names liaison-py 1.0.1 code uses."""
import inspect
import json
import math

import pytest

import sample
from liaison import Companion, CommandError
from liaison.companion import Command, CommandTable


def greet(name, punctuation="!"):
    """Greet *name*: an application's command."""
    return "hello " + str(name) + punctuation


@pytest.fixture
def companion():
    return Companion({"sample": sample})


@pytest.fixture
def client(make_server, connect, companion):
    return connect(make_server(companion))


def test_a_client_cannot_map_a_command_to_a_method_name(client):
    error = client.error("run", "companion.commands.update", {"x": "__init__"})
    assert error["type"] == "TypeError"
    assert "callable" in error["message"]
    assert client.error("x")["message"].startswith("unknown command 'x'")
    error = client.error("run", "companion.commands.setdefault", "y", "get")
    assert error["type"] == "TypeError"
    assert client.error("y")["type"] == "CommandError"
    assert client.call("get", "math:pi") == math.pi


@pytest.mark.parametrize("method, args, kwargs", [
    ("update", [], {"ping": "$sample.echo"}),
    ("update", [{"x": "$sample.echo"}], {}),
    ("__setitem__", ["x", "$sample.echo"], {}),
    ("setdefault", ["x", "$sample.echo"], {}),
    ("pop", ["get"], {}),
    ("popitem", [], {}),
    ("clear", [], {}),
    ("__delitem__", ["get"], {}),
    ("add", ["x", "$sample.echo"], {}),
])
def test_a_client_cannot_change_the_commands(client, companion, method, args, kwargs):
    before = dict(companion.commands)
    error = client.error("run", "companion.commands." + method, *args, **kwargs)
    assert error["type"] == "PermissionError"
    assert error["message"] == "commands cannot be changed from inside a command; the host program adds and removes them"
    assert dict(companion.commands) == before
    assert companion.is_urgent("ping") is True
    assert client.call("ping") == "pong"
    assert client.call("get", "math:pi") == math.pi


def test_an_app_command_is_checked_and_answered_like_a_built_in(client, companion):
    companion.commands["greet"] = greet
    assert client.call("greet", "Ada") == "hello Ada!"
    assert client.call("greet", "Ada", punctuation="?") == "hello Ada?"
    error = client.error("greet")
    assert error["type"] == "CommandError"
    assert error["message"] == "greet: missing a required argument: 'name'; usage: greet(name, punctuation='!')"
    assert client.error("greet", "a", "b", "c")["message"].startswith("greet: too many positional arguments")
    reply = client.request("greet", "Ada", colour="red")
    assert reply["error"] == ["CommandError: " + reply["exception"]["message"] + "\n"]


def test_an_app_command_by_default_substitutes_references_and_takes_the_lock(client, companion):
    companion.commands["greet"] = greet
    companion.commands["holding"] = companion.lock.held
    client.call("init", "p", "sample:Point", 1, 2)
    assert client.call("greet", "$p.x") == "hello 1!"
    assert client.call("holding") is True
    assert companion.is_urgent("greet") is False


def test_app_commands_declare_lock_substitution_and_urgency(client, companion):
    companion.commands.add("raw", sample.echo, substitute=False)
    companion.commands.add("free", companion.lock.held, lock=False)
    companion.commands.add("quick", sample.echo, lock=False, substitute=False, urgent=True)
    assert client.call("raw", "$companion", key="$companion") == {"args": ["$companion"], "kwargs": {"key": "$companion"}}
    assert client.call("free") is False
    assert client.call("quick", "$x") == {"args": ["$x"], "kwargs": {}}
    assert companion.is_urgent("quick") is True
    with pytest.raises(ValueError, match="lock=False"):
        companion.commands.add("bad", sample.echo, urgent=True)


def test_commands_belong_to_one_companion(make_server, connect, companion):
    other = Companion()
    companion.commands["greet"] = greet
    assert "greet" not in other.commands
    assert connect(make_server(other)).error("greet")["type"] == "CommandError"
    assert connect(make_server(companion)).call("greet", "you") == "hello you!"
    assert companion.commands["get"] == companion.resolve
    assert other.commands["get"] == other.resolve


def test_removing_a_command(client, companion):
    del companion.commands["store"]
    assert client.error("store", "x", 1)["message"].startswith("unknown command 'store'")
    companion.commands["store"] = companion.store
    assert client.call("store", "x", 1) == "x"
    assert companion.commands.pop("ping") == companion.ping
    assert companion.commands.pop("ping", None) is None
    assert companion.is_urgent("ping") is False
    assert client.error("ping")["type"] == "CommandError"
    companion.commands.clear()
    assert client.error("get", "math:pi")["message"] == "unknown command 'get'; known commands: "


def test_the_table_takes_callables_only():
    table = CommandTable()
    for add in [lambda: table.__setitem__("x", "get"), lambda: table.update(x=5),
                lambda: table.update({"ok": len, "x": "__init__"}), lambda: table.setdefault("x"),
                lambda: table.__ior__({"x": None}), lambda: table.add(3, len)]:
        with pytest.raises(TypeError):
            add()
    assert dict(table) == {}
    table.update({"n": len}, m=abs)
    table |= {"k": min}
    assert table.setdefault("k", max) is min
    assert dict(table) == {"n": len, "m": abs, "k": min}


def test_is_urgent_knows_ping_only_among_built_ins(companion):
    assert [name for name in companion.commands if companion.is_urgent(name)] == ["ping"]
    assert companion.is_urgent("nonexistent") is False
    assert companion.is_urgent(None) is False


def test_upstream_method_names(client, companion):
    assert companion.resolve("math:pi") == math.pi
    assert companion.initialize("p", "sample:Point", 3, y=4, name="n") == "p"
    assert companion.actualize("$p").name == "n"
    assert companion.actualize(["$p.x", {"y": "$p.y"}, "$$p"]) == [3, {"y": 4}, "$p"]
    assert companion.call("math:sqrt", 16) == 4.0
    assert companion.call("p.norm") == 5.0
    assert companion.attempt("sample:fail", "x")["success"] is False
    assert client.call("run", "companion.call", "math:hypot", 3, 4) == 5.0
    assert client.call("run", "companion.resolve", "p.x") == 3
    with pytest.raises(CommandError, match="usage: init"):
        companion.initialize("q")


def test_signatures_say_how_to_call_init_run_and_try(client):
    assert client.error("init", "p")["message"] == (
        "init: missing a required argument: 'cls'; usage: init(name, cls, /, *args, **kwargs)")
    assert client.error("run")["message"] == "run: missing a required argument: 'fcn'; usage: run(fcn, /, *args, **kwargs)"
    assert client.error("try")["message"].startswith("try: missing a required argument: 'fcn'")


def test_base_liaison_is_the_transport_neutral_base_class(server):
    from liaison.base import BaseLiaison
    from liaison.server import Liaison
    assert BaseLiaison is Liaison
    assert isinstance(server, BaseLiaison)
    reply = json.loads(server.handle_message('{"command": {"command": "ping"}}'))
    assert reply["response"] == "pong"


def test_run_init_and_try_replace_references_once_for_the_protocol_and_for_python(client, companion):
    assert client.call("store", "text", "$$literal") == "text"
    assert companion.namespace["text"] == "$literal"
    assert client.call("run", "sample:echo", "$text", key=["$text"]) == {"args": ["$literal"],
                                                                       "kwargs": {"key": ["$literal"]}}
    assert client.call("init", "copy", "builtins:str", "$text") == "copy"
    assert companion.namespace["copy"] == "$literal"
    assert companion.call("sample:echo", "$text", "$$x") == {"args": ["$literal", "$x"], "kwargs": {}}
    assert companion.call("builtins:len", "$text") == len("$literal")
    outcome = client.call("try", "sample:echo", "$ghost")
    assert outcome["success"] is False
    assert "ResolveError" in outcome["result"][-1] and "ghost" in outcome["result"][-1]


def _signatures():
    """Callables with every shape of positional parameters, plus required keyword-only ones."""
    def none():
        pass

    def two(a, b):
        pass

    def defaults(a, b=1, c=2):
        pass

    def star(a, *rest):
        pass

    def keyword_only(a, *, key):
        pass

    def keyword_default(a, *, key=1):
        pass

    def anything(*args, **kwargs):
        pass

    return [none, two, defaults, star, keyword_only, keyword_default, anything, math.hypot, divmod, sample.Point]


@pytest.mark.parametrize("function", _signatures(), ids=lambda function: function.__name__)
def test_a_call_with_positional_arguments_is_refused_exactly_when_binding_refuses_it(function):
    command = Command(function)
    try:
        signature = inspect.signature(function)
    except ValueError:
        signature = None  # no signature to check against (math.hypot): every call is let through
    for count in range(5):
        args = list(range(count))
        try:
            fits = signature is None or signature.bind(*args) is not None
        except TypeError:
            fits = False
        if fits:
            command.check("name", args, {})
        else:
            with pytest.raises(CommandError, match="usage: name"):
                command.check("name", args, {})


def test_handle_message_gives_a_large_reply_as_one_bytes_object(server):
    reply = server.handle_message(json.dumps({"command": {"command": "run", "args": ["operator:mul", "ab", 100000]}}))
    assert isinstance(reply, bytes)
    assert json.loads(reply)["response"] == "ab" * 100000
