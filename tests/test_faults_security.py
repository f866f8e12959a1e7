"""Issue 12, rule 6: the security checks have no holes a client can open."""
import logging
import math
import os
import subprocess
import sys

import pytest

from liaison.websocket import WebsocketLiaison
from rawclient import Raw

TOKEN = "s3cret-token-never-logged"


def rest_of_answer(client):
    """What the server sent after the handshake's head, until it closed the connection."""
    data = bytes(client.buffer)
    while True:
        chunk = client.sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_a_malformed_request_path_is_answered_400_when_a_token_is_set(make_server, caplog):
    server = make_server(token=TOKEN)
    port = server.server_address[1]
    assert Raw(port, path="//[x").status == 400
    assert Raw(port, path="/?token=" + TOKEN).call("ping")["response"] == "pong"
    assert not [record for record in caplog.records if record.exc_info]


def test_a_header_line_without_a_colon_is_refused_and_its_value_never_logged(make_server, caplog):
    caplog.set_level(logging.DEBUG, logger="liaison")
    server = make_server(token=TOKEN)
    client = Raw(server.server_address[1], headers=["Authorization Bearer " + TOKEN])
    assert client.status == 400
    assert TOKEN.encode() not in client.head + rest_of_answer(client)
    assert caplog.records and TOKEN not in caplog.text


def test_an_empty_token_is_refused_by_the_server():
    with pytest.raises(ValueError):
        WebsocketLiaison("127.0.0.1", 0, token="")


@pytest.mark.parametrize("options, environment", [
    (["--token", ""], {}),
    ([], {"LIAISON_TOKEN": ""}),
])
def test_an_empty_token_is_refused_at_start_up_with_a_clear_message(options, environment):
    env = {name: value for name, value in os.environ.items() if name != "LIAISON_TOKEN"}
    env.update(environment)
    process = subprocess.Popen([sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"] + options,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0 and out == b""
    assert "empty token" in err.decode() and "Traceback" not in err.decode()


def test_a_client_can_neither_reach_nor_change_the_command_table(make_server):
    server = make_server(allow_import=["math"])
    client = Raw(server.server_address[1])
    client.call("run", "companion.commands.update", {"x": "__init__"})
    assert client.call("x")["tag"] == "error"
    assert client.call("get", "os:getcwd")["tag"] == "error"
    assert client.call("get", "math:pi")["response"] == math.pi
