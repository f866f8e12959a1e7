"""Issue 20, cases 5 and 6: no client can hold up another, or act on another's requests."""
import json
import threading
import time

import pytest

from interruption import WebsocketCLI, run_code
from conftest import closing_all, wait_until
from liaison import Companion
from liaison.dispatch import MainThreadDispatcher
from rawclient import SMALL_RCVBUF, TEXT, Raw, frame, request


@pytest.fixture
def websocket_cli():
    """Start ``python -m liaison.websocket`` subprocesses (stderr to a file); all are killed after the test."""
    yield from closing_all(WebsocketCLI)


def count_clients(client):
    """How many clients the server has now, asked by *client*."""
    return client.call("run", "builtins:eval", "len(liaison.connected_clients())", {"liaison": "$liaison"},
                       timeout=5)["response"]


def test_5_a_push_from_the_main_thread_never_waits_on_stalled_clients(websocket_cli):
    server = websocket_cli("--send-timeout", "3")
    stalled = [Raw(server.port, rcvbuf=SMALL_RCVBUF) for _ in range(4)]
    caller = Raw(server.port).read_in_background()
    bystander = Raw(server.port).read_in_background()
    assert count_clients(bystander) == 6
    started = time.monotonic()
    caller.send_text(json.dumps(run_code("liaison.send({'pad': 'x' * 8000000})", "push")).encode())
    bystander.send_text(request("run", "math:sqrt", 16, id="sqrt"))
    got = [bystander.reply(timeout=5), bystander.reply(timeout=5)]  # the push and its reply, in either order
    assert caller.reply_to("push", timeout=5)["tag"] == "response"
    assert time.monotonic() - started < 1.5, "a command waited on stalled clients' 3 s deadline"
    assert sorted(map(sorted, got)) == [["evt", "response", "tag"], ["pad"]], [sorted(message) for message in got]
    assert [message["response"] for message in got if "response" in message] == [4.0]
    wait_until(lambda: count_clients(bystander) == 2, timeout=10)  # each stalled client missed its deadline
    assert time.monotonic() - started > 2.5
    for client in stalled:
        client.close()


@pytest.fixture
def turns(make_server):
    """Start a server whose clients' commands all run on one thread, taking turns as on the command line
    (each client's next request after every other client's waiting one); its namespace holds ``gate``."""
    executors = []

    def start(**options):
        gate = threading.Event()
        server = make_server(Companion({"gate": gate}), **options)
        server.executor = MainThreadDispatcher()
        threading.Thread(target=server.executor.run, daemon=True).start()
        executors.append((server.executor, gate))
        return server, gate

    yield start
    for executor, gate in executors:
        gate.set()
        executor.stop()


def victim_with_a_queued_request(port, gate):
    """A client whose request ``queued`` waits behind its command on the gate and another; it reads in the
    background."""
    victim = Raw(port).read_in_background()
    victim.send(frame(TEXT, request("run", "gate.wait", 10, id="gated")) +
                frame(TEXT, request("run", "math:fabs", -1, id="next")) +
                frame(TEXT, request("run", "math:fabs", -2, id="queued")) +
                frame(TEXT, request("ping", id="all read")))
    assert victim.reply_to("all read")["response"] == "pong"
    return victim


def attack(port, gate, attempts):
    """Have another client send the requests *attempts* (tuples of a command and its arguments), then open
    the gate; return their replies, in order. Taking turns, the first runs after the victim's gated
    command and the second before the victim's ``queued``."""
    attacker = Raw(port).read_in_background()
    attacker.send(b"".join(frame(TEXT, request(*attempt, id=number)) for number, attempt in enumerate(attempts)) +
                  frame(TEXT, request("ping", id="all read")))
    assert attacker.reply_to("all read")["response"] == "pong"
    gate.set()
    return [attacker.reply_to(number) for number in range(len(attempts))]


@pytest.mark.parametrize("options", [{}, {"allow_import": ["math"]}], ids=["no import policy", "allow_import"])
def test_6_the_client_handles_commands_get_cannot_act_on_another_clients_requests(turns, options):
    server, gate = turns(**options)
    port = server.server_address[1]
    victim = victim_with_a_queued_request(port, gate)
    replies = attack(port, gate, [
        ("init", "others", "liaison.connected_clients"),
        ("run", "others[0].cancel", "queued"),
        ("get", "others[0].name"),
        ("run", "liaison.send", {"tag": "note"}, "$others[0]"),
    ])
    assert replies[0]["response"] == "others"
    assert replies[1]["tag"] == "error", replies[1]
    assert replies[2]["response"].startswith("client 127.0.0.1:")
    assert replies[3]["response"] == 1  # liaison.send to another client still works
    assert victim.reply_to("gated")["response"] is True
    assert victim.reply_to("next")["response"] == 1.0
    assert victim.reply_to("queued").get("response") == 2.0, "another client cancelled this request"


CANCEL_QUEUED = json.dumps({"command": {"command": "cancel", "args": ["queued"]}, "id": "forged"})


@pytest.mark.parametrize("attempt", [
    ("run", "liaison.clients[0]['handler'].session.cancel", "queued"),
    ("run", "liaison.clients[0]['handler'].connection.abort", "by another client"),
    ("run", "liaison.handle_message", CANCEL_QUEUED, "$others[0]"),
], ids=["handler.session", "handler.connection", "handle_message"])
def test_6_under_an_import_policy_no_target_reaches_another_clients_session(turns, attempt):
    server, gate = turns(allow_import=["math"])
    port = server.server_address[1]
    victim = victim_with_a_queued_request(port, gate)
    replies = attack(port, gate, [("init", "others", "liaison.connected_clients"), attempt])
    assert replies[0]["response"] == "others"
    assert replies[1]["tag"] == "error", replies[1]
    assert victim.reply_to("gated")["response"] is True
    assert victim.reply_to("next")["response"] == 1.0
    assert victim.reply_to("queued").get("response") == 2.0, "another client reached this request"


@pytest.mark.parametrize("target", ["liaison.connection", "liaison.session", "liaison.executor"])
def test_6_under_an_import_policy_the_stdio_servers_own_objects_are_out_of_reach(stdio, target):
    server = stdio("--allow-import", "math")
    assert server.error("get", target)["exception"]["type"] in ("PolicyError", "ResolveError")
    assert server.call("run", "math:sqrt", 4) == 2.0
