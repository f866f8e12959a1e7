"""A drop-in for liaison-py 1.0.1: PsychoPy Studio's traffic and the Python names upstream code uses."""
import json
import os
import socket
import threading
import time
import traceback

import pytest
import websocket

from liaison.constants import START_MARKER

from conftest import say_hello

TESTS = os.path.dirname(os.path.abspath(__file__))


def stub_env():
    """The environment for a CLI server that can import tests/studio_stub.py."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    return env


class Frontend:
    """What Studio's frontend does: send requests, route pushed frames by tag, match replies by id."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=20)
        self.pushed = []
        self.number = 0

    def request(self, command, *args, **kwargs):
        self.number += 1
        ident = "studio-{}".format(self.number)
        self.ws.send(json.dumps({"command": {"command": command, "args": list(args), "kwargs": kwargs},
                                 "id": ident}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("tag") in ("response", "error") and "evt" in message:
                assert message["evt"]["id"] == ident, message
                return message
            self.pushed.append(message)

    def response(self, command, *args, **kwargs):
        reply = self.request(command, *args, **kwargs)
        assert reply["tag"] == "response", reply
        return reply["response"]


def test_studio_start_up_sequence(cli, tmp_path):
    devices = tmp_path / "devices.json"
    devices.write_text("{}")
    preferences = tmp_path / "prefs.json"
    preferences.write_text(json.dumps({"general": {"theme": "dark"}}))
    server = cli("127.0.0.1:0", env=stub_env())
    _, port = server.wait_started()
    studio = Frontend("ws://127.0.0.1:{}".format(port))
    assert studio.response("exists", "studio_stub:LiaisonAlertHandler") is True
    assert studio.response("init", "alerts", "studio_stub:LiaisonAlertHandler", liaison="$liaison") == "alerts"
    assert studio.response("run", "studio_stub:addAlertHandler", "$alerts") is None
    assert studio.response("register", "prefs", "studio_stub:prefs") == "prefs"
    assert studio.response("try", "prefs.setDevicesFile", str(devices)) == {"success": True, "result": None}
    assert studio.response("try", "prefs.fromJSON", str(preferences)) == {
        "success": True, "result": {"general": {"theme": "dark"}}}
    assert studio.response("exists", "studio_stub:activatePlugins") is True
    assert studio.response("run", "studio_stub:activatePlugins") is None
    assert studio.response("ping") == "pong"
    # An alert raised by psychopy code reaches the frontend exactly as the handler sent it, right after the
    # reply of the command that raised it, as liaison-py sent it (Studio's listeners read evt.id unguarded).
    assert studio.response("run", "studio_stub:alert", 4120, "frame rate is low") is None
    assert studio.pushed == []
    assert json.loads(studio.ws.recv()) == {
        "tag": "alert", "message": json.dumps({"code": 4120, "msg": "frame rate is low"})}
    failed = studio.response("try", "prefs.fromJSON", str(tmp_path / "missing.json"))
    assert failed["success"] is False
    assert isinstance(failed["result"], list) and all(isinstance(line, str) for line in failed["result"])
    assert failed["result"][-1].startswith("FileNotFoundError: ")


def test_error_replies_are_format_exceptions_items_with_the_type_and_message_beside_them(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    studio = Frontend("ws://127.0.0.1:{}".format(port))
    reply = studio.request("run", "json:loads", "{x")
    assert reply["tag"] == "error"
    try:
        json.loads("{x")
    except ValueError as error:
        expected = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        message = str(error)
    assert reply["error"] == expected  # as liaison-py sends them, from the called code on
    assert reply["error"][1].startswith('  File "{}", line '.format(json.__file__))
    assert reply["exception"] == {"type": "JSONDecodeError", "message": message}
    reply = studio.request("run", "builtins:int", "not a number")
    assert reply["error"] == ["ValueError: invalid literal for int() with base 10: 'not a number'\n"]
    assert reply["exception"] == {"type": "ValueError", "message": "invalid literal for int() with base 10: "
                                                                    "'not a number'"}
    unknown = studio.request("launch", "rockets")
    assert unknown["tag"] == "error" and unknown["exception"]["type"] == "CommandError"
    assert unknown["error"] == ["CommandError: " + unknown["exception"]["message"] + "\n"]
    assert unknown["error"][0].startswith("CommandError: unknown command 'launch'")
    studio.ws.send("not json")
    bad = json.loads(studio.ws.recv())
    assert bad["tag"] == "error" and bad["evt"] is None and bad["exception"]["type"] == "ProtocolError"
    assert bad["error"] == ["ProtocolError: " + bad["exception"]["message"] + "\n"]
    assert studio.response("ping") == "pong"


def test_the_cli_runs_commands_on_the_main_thread_and_answers_pings_meanwhile(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    url = "ws://127.0.0.1:{}".format(port)
    first, second = Frontend(url), Frontend(url)
    assert "MainThread" in first.response("run", "threading:current_thread")
    long_command = "\n".join(["import time", "liaison.send({'tag': 'started'}, client=liaison.current_client())",
                              "time.sleep(3)"])
    say_hello(first.ws)
    first.ws.send(json.dumps({"command": {"command": "run", "args": ["builtins:exec", long_command,
                                                                    {"liaison": "$liaison"}]}, "id": "long"}))
    assert json.loads(first.ws.recv()) == {"tag": "started"}
    started = time.monotonic()
    assert second.response("ping") == "pong"
    assert time.monotonic() - started < 1
    assert json.loads(first.ws.recv())["evt"]["id"] == "long"


def ipv6_loopback():
    """Whether this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_localhost_is_served_on_ipv4_and_ipv6_loopback_and_the_marker_keeps_the_name(cli):
    server = cli("localhost:0")
    chunk = server.read_chunk()
    assert chunk.startswith(START_MARKER + "@localhost:"), chunk
    port = int(chunk.rpartition(":")[2])
    for url in ("ws://127.0.0.1:{}".format(port), "ws://[::1]:{}".format(port), "ws://localhost:{}".format(port)):
        assert Frontend(url).response("ping") == "pong"


def test_upstream_names_import_and_behave(tmp_path):
    from liaison.base import BaseLiaison
    from liaison.companion import Companion
    from liaison.websocket import WebsocketLiaison
    from liaison.websocket.websocket import LiaisonJSONEncoder, send_message

    server = WebsocketLiaison("127.0.0.1", "0")
    assert isinstance(server, BaseLiaison)
    with pytest.raises(ValueError, match="port must be a whole number"):
        WebsocketLiaison("127.0.0.1", "eighty")
    assert json.loads(json.dumps({"f": json.dumps}, cls=LiaisonJSONEncoder)) == {"f": "python:///json:dumps"}
    companion = server.companion
    assert companion.resolve("math:pi") == pytest.approx(3.14159, abs=1e-5)
    assert companion.initialize("p", "collections:OrderedDict", a=1) == "p"
    assert companion.actualize("$p") is companion.namespace["p"]
    assert companion.call("builtins:len", "$p") == 1
    companion.commands["greet"] = lambda name: "hello " + name
    assert "greet" not in Companion().commands
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    try:
        client = Frontend("ws://127.0.0.1:{}".format(server.port))
        assert client.response("greet", "studio") == "hello studio"
        assert client.response("run", "threading:get_ident") == thread.ident  # commands run on start()'s thread
        assert client.request("greet")["exception"]["type"] == "CommandError"
        assert send_message(server, {"tag": "note"}, timeout=1) == 1
        assert json.loads(client.ws.recv()) == {"tag": "note"}
        assert server.send({"tag": "old style"}, 2) == 1  # liaison-py's send(message, timeout)
        assert json.loads(client.ws.recv()) == {"tag": "old style"}
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
