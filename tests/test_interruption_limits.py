"""Issue 20, cases 8, 10 and 11: what queued requests cost the server is bounded (threads, bytes), and
what a client queued never keeps its ``ping`` or ``cancel`` from being read."""
import json
import os
import threading

import pytest

from conftest import closing_all
from interruption import WebsocketCLI, rss_kib, run_code
from liaison import Companion
from rawclient import TEXT, Raw, frame, request, send_until_stalled

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")


@pytest.fixture
def websocket_cli():
    """Start ``python -m liaison.websocket`` subprocesses (stderr to a file); all are killed after the test."""
    yield from closing_all(WebsocketCLI)


def with_timeout(command, *args, ident, timeout):
    """A request with its own deadline, as text."""
    return json.dumps({"command": {"command": command, "args": list(args)}, "id": ident, "timeout": timeout}).encode()


def test_8_requests_waiting_with_a_timeout_start_no_thread(make_server):
    gate = threading.Event()
    server = make_server(Companion({"gate": gate}))
    port = server.server_address[1]
    holder = Raw(port)
    holder.send_text(request("run", "gate.wait", 30, id="gated"))
    clients = [Raw(port) for _ in range(16)]
    try:
        for client in clients:
            assert client.call("ping")["response"] == "pong"
        before = threading.active_count()
        for client in clients:
            client.send(b"".join(frame(TEXT, with_timeout("run", "builtins:abs", -number, ident=number, timeout=60))
                                 for number in range(60)) + frame(TEXT, request("ping", id="all read")))
        for client in clients:
            assert client.reply_to("all read")["response"] == "pong"  # its 60 requests are queued
        assert threading.active_count() - before <= 2, "threads for 960 queued requests with a timeout"
    finally:
        gate.set()
    for client in clients:
        assert [client.reply_to(number)["response"] for number in range(60)] == list(range(60))


#: Says it started, then loops in Python until cancelled.
SPINNING = "\n".join([
    "liaison.send({'tag': 'started'}, client=liaison.current_client())",
    "while True:",
    "    pass",
])


def start_spinning(client, ident="spinning"):
    """Start SPINNING on *client* (which said hello) and return once it runs."""
    client.send_text(json.dumps(run_code(SPINNING, ident)).encode())
    assert client.reply() == {"tag": "started"}


@pytest.mark.parametrize("options, queued", [([], 500), (["--max-size", "65536"], 100)],
                         ids=["defaults", "max-size 64 KiB"])
def test_10_cancel_is_answered_at_once_behind_hundreds_of_queued_requests(websocket_cli, options, queued):
    server = websocket_cli(*options)
    client = Raw(server.port)
    assert client.call("hello", features=["interleave"])["response"]["features"] == ["interleave"]
    start_spinning(client)
    client.send(b"".join(frame(TEXT, request("run", "math:fabs", -number, id=number)) for number in range(queued)))
    client.send_text(request("cancel", "spinning", id="cancel"))
    cancel = client.reply(timeout=1)
    assert cancel["evt"]["id"] == "cancel" and cancel["response"] == "interrupted", cancel
    assert client.reply()["exception"]["type"] == "Cancelled"
    assert [client.reply()["response"] for _ in range(queued)] == [float(number) for number in range(queued)]



def test_11_a_flood_of_large_requests_costs_a_few_times_the_largest_message_then_tcp_holds_it(
        websocket_cli, tmp_path):
    megabyte = 1 << 20
    server = websocket_cli("--max-size", str(megabyte))
    client = Raw(server.port)
    client.read_in_background()
    assert client.call("run", "builtins:len", "w" * (megabyte - 100))["response"] == megabyte - 100
    go = tmp_path / "go"
    client.send_text(json.dumps(run_code(
        "import os\nwhile not os.path.exists({!r}):\n    pass".format(str(go)), "waiting")).encode())
    before = rss_kib(server.pid)
    flood = [frame(TEXT, request("run", "builtins:len", "f" * (megabyte - 100), id=number)) for number in range(100)]
    sent, rest = send_until_stalled(client.sock, flood)
    grown = rss_kib(server.pid) - before
    go.touch()
    assert rest is not None, "the server read all 100 MB queued behind one command"
    assert grown < 24 * 1024, "{} MiB held for {} requests of 1 MiB queued behind a command".format(grown // 1024, sent)
    client.send(rest + b"".join(flood[sent + 1:]))
    assert client.reply_to("waiting", timeout=20)["tag"] == "response"
    for number in range(100):
        reply = client.reply(timeout=20)
        assert (reply["evt"]["id"], reply["response"]) == (number, megabyte - 100)


def test_11_the_ids_of_answered_requests_are_kept_within_a_bounded_size(websocket_cli):
    server = websocket_cli()
    client = Raw(server.port).read_in_background()
    assert client.call("run", "math:fabs", -1)["response"] == 1.0
    for number in range(320):  # the first 20 to warm up
        if number == 20:
            before = rss_kib(server.pid)
        ident = "{:03}".format(number) + "i" * (512 << 10)
        client.send_text(request("run", "math:fabs", -number, id=ident))
        assert client.reply(timeout=5)["response"] == number
    grown = rss_kib(server.pid) - before
    assert grown < 32 * 1024, "{} MiB held after 300 requests with 512 KiB ids".format(grown // 1024)
    client.send_text(request("run", "math:fabs", -1, id="small"))
    client.reply_to("small")
    assert client.call("cancel", "small")["response"] == "finished"  # small ids are still remembered
