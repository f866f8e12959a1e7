"""spawn()'s options for the server and its process, over both transports, against real servers."""
import os

import pytest

from liaison import RemoteError
from liaison.client import spawn

TRANSPORTS = ["websocket", "stdio"]


@pytest.fixture
def spawned():
    """Spawn clients; all are closed (their servers stopped) after the test."""
    clients = []

    def start(**options):
        client = spawn(timeout=20, **options)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_allow_import_log_level_max_size_and_args_reach_the_server(spawned, transport, capfd):
    client = spawned(transport=transport, allow_import=["math"], log_level="DEBUG", max_size=5000,
                     args=["--send-timeout", "30"])
    assert client.run("math:sqrt", 16) == 4.0
    with pytest.raises(RemoteError) as refused:
        client.run("os:getpid")
    assert refused.value.type == "PolicyError"
    assert client.get("liaison.max_size") == 5000
    assert client.get("liaison.send_timeout") == 30
    client.close()
    assert "liaison DEBUG: " in capfd.readouterr().err


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_server_runs_in_cwd_with_env_which_replaces_this_processs_environment(spawned, transport, tmp_path):
    env = {"PATH": os.environ["PATH"], "LIAISON_SPAWN_TEST": "given"}
    client = spawned(transport=transport, cwd=str(tmp_path), env=env)
    assert client.run("os:getcwd") == os.path.realpath(str(tmp_path))
    assert client.run("os:getenv", "LIAISON_SPAWN_TEST") == "given"
    assert client.run("os:getenv", "HOME") is None


def test_allow_origin_and_max_clients_reach_a_websocket_server(spawned, capfd):
    client = spawned(allow_origin=["https://app.example", "https://other.example"], max_clients=3, log_level="INFO")
    assert client.get("liaison.allow_origin") == ["https://app.example", "https://other.example"]
    assert client.get("liaison.max_clients") == 3
    client.close()
    assert "liaison INFO: " in capfd.readouterr().err


def test_the_token_reaches_a_websocket_server_in_its_environment_never_on_its_command_line(spawned):
    client = spawned(token="not for argv")
    assert client.run("os:getenv", "LIAISON_TOKEN") == "not for argv"
    with open("/proc/{}/cmdline".format(client.process.pid), "rb") as command_line:
        arguments = command_line.read().decode().split("\0")
    assert "liaison.websocket" in arguments and not any("not for argv" in argument for argument in arguments)


def test_a_string_is_one_allow_import_prefix(spawned):
    client = spawned(transport="stdio", allow_import="math")
    assert client.run("math:sqrt", 4) == 2.0
    with pytest.raises(RemoteError, match="PolicyError"):
        client.run("os:getpid")
