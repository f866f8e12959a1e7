"""Safe by default: Origin, Host and token checks at the handshake, connection limits, the import policy."""
import base64
import json
import logging
import os
import signal
import socket
import threading
import time

import pytest
import websocket

from liaison import Companion
from liaison.policy import ImportPolicy
from liaison.websocket.access import host_allowed, origin_allowed, token_presented
from liaison.websocket import WebsocketLiaison

from conftest import Client, wait_until

KEY = base64.b64encode(b"0123456789abcdef").decode()


class Recorder:
    """Remembers every call, to prove that a refused client ran nothing."""

    def __init__(self):
        self.calls = []

    def touch(self, *args):
        self.calls.append(args)
        return len(self.calls)


def request_bytes(port, path="/", **headers):
    """A websocket upgrade request; header keywords use ``_`` for ``-``, and None leaves one out."""
    fields = {"Host": "127.0.0.1:{}".format(port), "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13"}
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    lines = ["GET {} HTTP/1.1".format(path)]
    lines += ["{}: {}".format(name, value) for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(port, data):
    """Send *data* on a fresh connection and return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(data)
        received = b""
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                return received
            received += chunk


def refused(port, data):
    """Send *data*, expect a refusal, and return its status code and body; nothing may follow the body."""
    response = exchange(port, data)
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    assert length == [len(body)], response
    return status, body.decode()


def status_of(port, data):
    """The status code of the server's answer to *data* (101 when it opens a websocket)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(data)
        return int(raw.recv(4096).split()[1])


def text_frame(message):
    """A masked client text frame, as a browser sends it."""
    return websocket.ABNF.create_frame(json.dumps(message), websocket.ABNF.OPCODE_TEXT).format()


def serving(server):
    """Serve *server* on a thread until the generator is closed; for module-wide servers."""
    with server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server
    thread.join(10)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def shared_port():
    """The port of one default server for many handshakes that each leave it as it was."""
    for server in serving(WebsocketLiaison("127.0.0.1", 0)):
        yield server.server_address[1]


# The handshake over a real socket.

@pytest.mark.parametrize("origin, status", [
    (None, 101),
    ("http://localhost:3000", 101),
    ("https://127.0.0.1", 101),
    ("http://[::1]:8080", 101),
    ("HTTP://LocalHost:5173", 101),
    ("file://", 101),
    ("https://evil.example", 403),
    ("null", 403),
    ("http://localhost.evil.example", 403),
    ("http://127.0.0.1.evil.example:8080", 403),
    ("http://user@localhost", 403),
    ("chrome-extension://abcdef", 403),
])
def test_origin_check(shared_port, origin, status):
    assert status_of(shared_port, request_bytes(shared_port, Origin=origin)) == status


def test_extra_origins_and_star(make_server):
    listed = make_server(allow_origin=["https://app.example", "null"]).server_address[1]
    assert status_of(listed, request_bytes(listed, Origin="https://app.example")) == 101
    assert status_of(listed, request_bytes(listed, Origin="null")) == 101
    assert status_of(listed, request_bytes(listed, Origin="https://other.example")) == 403
    star = make_server(allow_origin=["*"]).server_address[1]
    assert status_of(star, request_bytes(star, Origin="https://anything.example")) == 101


@pytest.mark.parametrize("host, status", [
    ("localhost", 101),
    ("localhost:8001", 101),
    ("127.0.0.1", 101),
    ("127.3.2.1:80", 101),
    ("[::1]:8001", 101),
    (None, 101),
    ("evil.example", 403),
    ("evil.example:{port}", 403),
    ("localhost.evil.example", 403),
    ("10.0.0.1", 403),
    ("", 403),
])
def test_host_check_against_dns_rebinding(shared_port, host, status):
    if host is not None:
        host = host.format(port=shared_port)
    assert status_of(shared_port, request_bytes(shared_port, Host=host)) == status


def test_browser_from_a_disallowed_origin_cannot_run_anything(make_server, connect):
    recorder = Recorder()
    server = make_server(Companion({"recorder": recorder}))
    port = server.server_address[1]
    for target in ["os:getpid", "recorder.touch"]:
        browser = request_bytes(port, Origin="https://evil.example", User_Agent="Mozilla/5.0",
                                Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits")
        status, body = refused(port, browser + text_frame({"command": {"command": "run", "args": [target]},
                                                           "id": 1}))
        assert status == 403 and "https://evil.example" in body and "--allow-origin" in body
    assert recorder.calls == []
    assert connect(server).call("run", "recorder.touch") == 1


def test_refusals_are_logged_with_reason_and_peer_and_server_keeps_serving(server, client, caplog):
    port = server.server_address[1]
    with caplog.at_level(logging.WARNING, logger="liaison"):
        assert status_of(port, request_bytes(port, Origin="https://evil.example")) == 403
        wait_until(lambda: "refused" in caplog.text)
    assert "refused a connection from 127.0.0.1: 403 Origin 'https://evil.example'" in caplog.text
    assert client.call("ping") == "pong"


# Tokens.

TOKEN = "s3cret+/=token"


@pytest.fixture(scope="module")
def token_server():
    yield from serving(WebsocketLiaison("127.0.0.1", 0, Companion({"recorder": Recorder()}), token=TOKEN))


@pytest.mark.parametrize("path, headers, status", [
    ("/", {}, 401),
    ("/?token=wrong", {}, 401),
    ("/?token=", {}, 401),
    ("/?tok=" + TOKEN, {}, 401),
    ("/", {"Authorization": "Bearer wrong"}, 401),
    ("/", {"Authorization": "Basic " + TOKEN}, 401),
    ("/?token=s3cret%2B%2F%3Dtoken", {}, 101),
    ("/?token=" + TOKEN, {}, 101),
    ("/app?x=1&token=" + TOKEN + "&y=2", {}, 101),
    ("/?token=wrong&token=" + TOKEN, {}, 101),
    ("/", {"Authorization": "Bearer " + TOKEN}, 101),
    ("/", {"Authorization": "bearer  " + TOKEN}, 101),
])
def test_token_in_query_or_bearer_header(token_server, path, headers, status):
    port = token_server.server_address[1]
    assert status_of(port, request_bytes(port, path, **headers)) == status


def test_missing_token_is_401_with_nothing_run_and_never_logged(token_server, caplog):
    port = token_server.server_address[1]
    recorder = token_server.companion.namespace["recorder"]
    with caplog.at_level(logging.DEBUG, logger="liaison"):
        status, body = refused(port, request_bytes(port, "/?token=" + TOKEN[:-1]) +
                               text_frame({"command": {"command": "run", "args": ["recorder.touch"]}}))
        assert status == 401 and "?token=" in body and "Bearer" in body
        url = "ws://127.0.0.1:{}/?token={}".format(port, TOKEN.replace("+", "%2B"))
        with_query = Client(url)
        with_header = Client("ws://127.0.0.1:{}".format(port), header=["Authorization: Bearer " + TOKEN])
        assert with_query.call("run", "recorder.touch") == 1
        assert with_header.call("run", "recorder.touch") == 2
        with_query.close()
        with_header.close()
    assert recorder.calls == [(), ()]
    assert "401" in caplog.text
    assert "s3cret" not in caplog.text


def test_cli_options_and_token_from_the_environment(cli):
    env = dict(os.environ, LIAISON_TOKEN=TOKEN)
    server = cli("127.0.0.1:0", "--allow-import", "math", "--allow-origin", "https://app.example",
                 "--max-clients", "1", env=env)
    _, port = server.wait_started()
    assert refused(port, request_bytes(port))[0] == 401
    url = "ws://127.0.0.1:{}/?token={}".format(port, TOKEN)
    client = Client(url, origin="https://app.example")
    assert client.call("run", "math:sqrt", 9) == 3.0
    assert client.error("run", "os:getpid")["type"] == "PolicyError"
    assert status_of(port, request_bytes(port, "/?token=" + TOKEN)) == 503
    client.close()


def test_cli_token_option_wins_and_network_bind_warns_on_stderr(cli):
    server = cli("0.0.0.0:0", "--token", "from-option", env=dict(os.environ, LIAISON_TOKEN=TOKEN))
    _, port = server.wait_started()
    assert status_of(port, request_bytes(port, "/?token=" + TOKEN)) == 401
    assert status_of(port, request_bytes(port, "/?token=from-option")) == 101
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_stopped() == 0
    stderr = server.process.stderr.read().decode()
    assert "reachable from the network" in stderr and "LIAISON_TOKEN" not in stderr
    assert "from-option" not in stderr and TOKEN not in stderr


# Server limits.

def test_connections_beyond_max_clients_get_503(make_server, connect):
    server = make_server(max_clients=2)
    port = server.server_address[1]
    first, second = connect(server), connect(server)
    status, body = refused(port, request_bytes(port))
    assert status == 503 and "at most 2" in body
    assert first.call("ping") == second.call("ping") == "pong"
    first.close()
    wait_until(lambda: len(server._tracked()) == 1)
    assert connect(server).call("ping") == "pong"


@pytest.mark.parametrize("dribble", [False, True], ids=["silent", "slow"])
def test_stalled_handshake_is_dropped_while_others_are_served(make_server, connect, caplog, dribble):
    server = make_server(handshake_timeout=0.5)
    port = server.server_address[1]
    client = connect(server)
    data = request_bytes(port)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="liaison"), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
        stalled.sendall(data[:20])
        stop = threading.Event()
        if dribble:
            def send_slowly():
                for byte in data[20:]:
                    if stop.wait(0.05):
                        return
                    try:
                        stalled.sendall(bytes([byte]))
                    except OSError:
                        return
            sender = threading.Thread(target=send_slowly)
            sender.start()
        assert client.call("ping") == "pong"
        assert stalled.recv(4096) == b""
        stop.set()
        if dribble:
            sender.join()
    assert time.monotonic() - started < 0.05 * len(data) - 1
    assert "dropped a connection from 127.0.0.1: no complete handshake within 0.5 s" in caplog.text
    assert client.call("ping") == "pong"
    assert connect(server).call("ping") == "pong"


def test_binding_beyond_loopback_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="liaison"):
        WebsocketLiaison("127.0.0.1", 0).stop()
        assert caplog.text == ""
        WebsocketLiaison("0.0.0.0", 0).stop()
    assert "reachable from the network" in caplog.text and "LIAISON_TOKEN" in caplog.text


# The import policy over the wire.

@pytest.fixture
def guarded(make_server, connect):
    return connect(make_server(allow_import=["sample", "math", "os.path"]))


@pytest.mark.parametrize("command, target, words", [
    ("run", "os:system", "importing 'os' is refused"),
    ("run", "os.system", "importing 'os' is refused"),
    ("run", "os:getpid", "importing 'os' is refused"),
    ("get", "os:path", "importing 'os' is refused"),
    ("run", "subprocess:call", "importing 'subprocess' is refused"),
    ("get", "sample:Point.__class__", "names starting with '_'"),
    ("get", "sample:echo.__globals__", "names starting with '_'"),
    ("get", "companion.__class__", "names starting with '_'"),
    ("get", "sample:datetime", "it is module 'datetime'"),
    ("get", "sample.datetime.datetime", "it is module 'datetime'"),
    ("get", "sample:_hidden", "names starting with '_'"),
])
def test_import_policy_refuses(guarded, command, target, words):
    error = guarded.error(command, target)
    assert error["type"] == "PolicyError" and words in error["message"]
    assert "sample, math, os.path" in error["message"] or "'_'" in error["message"]


def test_import_policy_allows_listed_trees(guarded):
    assert guarded.call("run", "math:sqrt", 16) == 4.0
    assert guarded.call("run", "os.path:join", "a", "b") == os.path.join("a", "b")
    assert guarded.call("run", "os.path.basename", "/x/y") == "y"
    assert guarded.call("init", "p", "sample:Point", 3, 4) == "p"
    assert guarded.call("run", "p.norm") == 5.0
    assert guarded.call("get", "p.tags[\"sizes\"][-1]") == 3
    assert guarded.error("get", "$p.__dict__")["type"] == "PolicyError"
    assert guarded.error("run", "sample:echo", "$p.__dict__")["type"] == "PolicyError"
    assert guarded.call("exists", "os:system") is False
    assert guarded.call("exists", "sample:Point") is True


def test_import_policy_on_the_companion():
    companion = Companion(allow_import=["json"])
    assert companion.run("json:dumps", [1]) == "[1]"
    assert companion.exists("json.decoder:JSONDecoder")
    for target in ["json.decoder:re", "json.decoder.re.compile", "os:getcwd", "json:_default_encoder"]:
        assert not companion.exists(target), target
    assert Companion().exists("json.decoder:re")


# The pure checks.

def test_import_policy_trees():
    policy = ImportPolicy(["pkg.api", "math"])
    assert policy.allows_module("pkg.api") and policy.allows_module("pkg.api.v2") and policy.allows_module("math")
    assert not policy.allows_module("pkg") and not policy.allows_module("pkg.apiary")
    assert not policy.allows_module("pkg.api._impl") and not policy.allows_module("mathx")
    assert policy.leads_to_allowed("pkg") and not policy.leads_to_allowed("pk")
    assert ImportPolicy(["_thread"]).allows_module("_thread")
    assert ImportPolicy([]).describe() == "(none)" and not ImportPolicy([]).allows_module("math")
    for bad in ["", "a..b", "os:path", "a-b", 3]:
        with pytest.raises(ValueError):
            ImportPolicy([bad])


def test_origin_allowed():
    assert origin_allowed(None) and origin_allowed("file://") and origin_allowed("http://localhost/")
    assert not origin_allowed("null") and origin_allowed("null", ["null"])
    assert not origin_allowed("https://localhost:443@evil.example")
    assert origin_allowed("https://App.Example", ["https://app.example/"])


def test_host_allowed_for_the_bound_host():
    assert host_allowed("mybox:8001", "mybox", "192.168.1.5")
    assert host_allowed("192.168.1.5:8001", "mybox", "192.168.1.5")
    assert not host_allowed("otherbox:8001", "mybox", "192.168.1.5")
    assert host_allowed("192.168.1.5:8001", "0.0.0.0", "0.0.0.0")
    assert host_allowed("[fe80::1]:8001", "::", "::")
    assert not host_allowed("evil.example", "0.0.0.0", "0.0.0.0")


def test_token_presented():
    assert token_presented("t", "/?token=t", None) and token_presented("t", "/", "Bearer t")
    assert not token_presented("t", "/?token=T", "Bearer T") and not token_presented("t", "/", None)
    assert token_presented("ä", "/?token=%C3%A4", None)
