"""Issue 12, rule 3: re-entry into the Companion is refused or works; it never deadlocks."""
import math

import pytest

from rawclient import Raw


@pytest.mark.parametrize("command", [
    ("run", "companion.dispatch", "get", ["math:pi"]),
    ("run", "liaison.handle_message", '{"command": {"command": "get", "args": ["math:pi"]}}'),
    ("run", "companion.lock.acquire"),
], ids=["dispatch", "handle_message", "lock.acquire"])
def test_reentry_is_refused_or_works_and_never_deadlocks(make_server, command):
    server = make_server()
    port = server.server_address[1]
    client, other = Raw(port), Raw(port)
    assert client.call(*command, timeout=5)["tag"] in ("response", "error")
    assert other.call("get", "math:pi", timeout=5)["response"] == math.pi
    assert client.call("get", "math:pi", timeout=5)["response"] == math.pi
    assert other.call("run", "liaison.stop", timeout=5)["tag"] == "response"


@pytest.mark.parametrize("command", [
    ("run", "companion.dispatch", "get", ["math:pi"]),
    ("run", "companion.lock.acquire"),
], ids=["dispatch", "lock.acquire"])
def test_reentry_on_the_command_lines_main_thread_never_deadlocks(cli, command):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    client, other = Raw(port), Raw(port)
    assert client.call(*command, timeout=5)["tag"] in ("response", "error")
    assert other.call("get", "math:pi", timeout=5)["response"] == math.pi
    assert other.call("run", "liaison.stop", timeout=5)["tag"] == "response"
    assert server.wait_stopped() == 0
