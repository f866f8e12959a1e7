"""Issue 20, cases 1 to 4: a cancel lands in served code at a random moment, hundreds of times, and
whatever it interrupts, no lock stays held, no message is cut, and the process still stops.

The tests cancel a command right after it has shown that it runs (its first pushed message), so that
the cancels land all over the command's loop, most of them inside ``liaison.send`` or ``logging``.
"""
import json
import signal
import threading
import time

import pytest

from conftest import closing_all
from interruption import LARGE_PUSHING, PUSHING, STUBBORN, WebsocketCLI, is_push, line, run_code
from liaison.client import spawn
from rawclient import CLOSE, PING, Raw, close_code, request
from stdioserver import STOP_LINE

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals and pipes")

PUSHED = "p" * 6000
LARGE = "b" * 70000


def interleave(client):
    """Ask a raw websocket client's server for ``interleave``: what a command pushes goes out while it runs."""
    assert client.call("hello", features=["interleave"])["response"]["features"] == ["interleave"]


def collect_replies(read, idents, pushed):
    """Call *read* for the next message until the replies to every request in *idents* have come; every
    other message must be one of the *pushed* messages, whole. Returns the replies by id."""
    replies = {}
    while len(replies) < len(idents):
        message = read()
        if is_push(message, pushed):
            continue
        ident = message["evt"]["id"]
        assert ident in idents and ident not in replies, message
        replies[ident] = message
    return replies


def stdio_replies(server, idents):
    """The replies to *idents* over stdio, among PUSHING's messages (:func:`collect_replies`)."""
    return collect_replies(lambda: server.message(timeout=5), idents, PUSHED)


def websocket_replies(client, idents, pad, timeout=5):
    """The replies to *idents* from a raw websocket client reading in the background, among pushes of
    *pad*, all within *timeout* seconds (:func:`collect_replies`)."""
    deadline = time.monotonic() + timeout
    return collect_replies(lambda: client.reply(max(0.0, deadline - time.monotonic())), idents, pad)


def test_1_over_stdio_cancels_that_land_in_pushes_while_the_parent_pings_lose_nothing(stdio):
    server = stdio()
    server.hello()
    for attempt in range(300):
        ident = "push-{}".format(attempt)
        server.write(json.dumps(run_code(PUSHING, ident)).encode() + b"\n")
        assert is_push(server.message(timeout=5), PUSHED)
        server.write(line("ping", ident="ping") + line("cancel", ident, ident="cancel"))
        replies = stdio_replies(server, {ident, "ping", "cancel"})
        assert replies[ident]["exception"]["type"] == "Cancelled", attempt
        assert replies["ping"]["response"] == "pong"
        assert replies["cancel"]["response"] == "interrupted"
    server.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert server.wait_stopped(timeout=5) == 0
    assert time.monotonic() - started < 5


def test_1_over_stdio_sigterm_during_a_pushing_command_ends_with_whole_lines_and_the_stop_marker(stdio):
    for attempt in range(30):
        server = stdio()
        server.hello()
        server.write(json.dumps(run_code(PUSHING, "push")).encode() + b"\n")
        assert is_push(server.message(timeout=5), PUSHED)
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        while True:
            text = server.read_line(timeout=5)
            if text == STOP_LINE:
                break
            assert text.endswith(b"\n"), (attempt, text[-200:])
            message = json.loads(text.decode())
            assert is_push(message, PUSHED) or message["evt"]["id"] == "push", (attempt, message)
        assert server.read_line(timeout=5) == b""
        assert server.process.wait(5) == 0
        assert time.monotonic() - started < 5, attempt
        server.kill()


def ping_all_the_time(client, done):
    """Send *client*'s server a ping frame every half millisecond until *done*: the server's pongs contend
    with every message pushed to that client for its send lock."""
    def ping():
        try:
            while not done.wait(0.0005):
                client.send_frame(PING, b"bystander")
        except OSError:
            pass

    threading.Thread(target=ping, daemon=True).start()


def test_2_cancelling_a_broadcasting_command_never_holds_up_a_bystander(make_server):
    server = make_server()
    port = server.server_address[1]
    bystander = Raw(port)
    interleave(bystander)
    bystander.read_in_background()
    caller = Raw(port)
    interleave(caller)
    caller.read_in_background()
    broadcasting = PUSHING.replace(", client=liaison.current_client()", "")
    done = threading.Event()
    ping_all_the_time(bystander, done)
    try:
        for attempt in range(300):
            ident = "broadcast-{}".format(attempt)
            caller.send_text(json.dumps(run_code(broadcasting, ident)).encode())
            assert is_push(caller.reply(timeout=5), PUSHED)
            caller.send_text(request("cancel", ident, id="cancel"))
            replies = websocket_replies(caller, {ident, "cancel"}, PUSHED)
            assert replies[ident]["exception"]["type"] == "Cancelled", attempt
            bystander.send_text(request("ping", id="ping"))
            assert websocket_replies(bystander, {"ping"}, PUSHED, timeout=2)["ping"]["response"] == "pong", attempt
    finally:
        done.set()
    assert len(server.connected_clients()) == 2


@pytest.fixture
def websocket_cli():
    """Start ``python -m liaison.websocket`` subprocesses (stderr to a file); all are killed after the test."""
    yield from closing_all(WebsocketCLI)


def test_3_over_a_websocket_cancels_that_land_in_large_pushes_never_cut_a_frame(websocket_cli):
    server = websocket_cli()
    caller = Raw(server.port)
    interleave(caller)
    caller.read_in_background()
    for attempt in range(200):
        ident = "push-{}".format(attempt)
        caller.send_text(json.dumps(run_code(LARGE_PUSHING, ident)).encode())
        assert is_push(caller.reply(timeout=5), LARGE)
        caller.send_text(request("cancel", ident, id="cancel"))
        replies = websocket_replies(caller, {ident, "cancel"}, LARGE)  # every frame whole, and JSON
        assert replies[ident]["exception"]["type"] == "Cancelled", attempt
    assert caller.call("ping")["response"] == "pong"
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_stopped(timeout=5) == 0


def test_3_the_python_clients_stdio_connection_survives_timeouts_of_calls_that_push():
    pushed = []
    with spawn(transport="stdio", timeout=10) as client:
        client.on("*", lambda message: pushed.append(is_push(message, PUSHED)))
        for attempt in range(20):
            with pytest.raises(TimeoutError):
                client.call("run", ["builtins:exec", PUSHING, {"liaison": "$liaison"}], timeout=0.05)
            assert client.call("ping", timeout=5) == "pong", attempt
    assert pushed and all(pushed)


#: Logs through the root logger and a named one, hands records to a handler directly, twenty at a time
#: (as ``logging.handlers.QueueListener`` does), and changes a level (which clears the cache of every logger
#: under the logging module's lock), for ever: cancels land inside logging's locks. The handler writes
#: nowhere, so that the loop never waits on a file, where a cancel would be delivered inside the
#: handler's ``try``, after its write.
LOGGING = "\n".join([
    "import logging",
    "class Quiet(logging.Handler):",
    "    def emit(self, record):",
    "        pass",
    "root = logging.getLogger()",
    "if not root.handlers:",
    "    root.addHandler(Quiet())",
    "    for number in range(100):",
    "        logging.getLogger('served.{}'.format(number))",
    "named = logging.getLogger('served')",
    "record = logging.LogRecord('served', logging.WARNING, 'served.py', 1, 'handed over', (), None)",
    "liaison.send({'tag': 'started'}, client=liaison.current_client())",
    "while True:",
    "    for handler in root.handlers * 20:",
    "        handler.handle(record)",
    "    logging.warning('a warning through the root logger')",
    "    named.info('information through a named logger')",
    "    named.warning('a warning through a named logger')",
    "    named.setLevel(logging.INFO)",
    "    named.setLevel(logging.NOTSET)",
])


def cancel_logging_code(port, rounds=300):
    """Start LOGGING and cancel it, *rounds* times, over one connection."""
    client = Raw(port)
    interleave(client)
    for attempt in range(rounds):
        ident = "logging-{}".format(attempt)
        client.send_text(json.dumps(run_code(LOGGING, ident)).encode())
        assert client.reply(timeout=5) == {"tag": "started"}
        client.send_text(request("cancel", ident, id="cancel"))
        replies = {message["evt"]["id"]: message for message in (client.reply(timeout=5), client.reply(timeout=5))}
        assert replies[ident]["exception"]["type"] == "Cancelled", attempt
    client.close()


def start_stubborn(port):
    """Connect and start STUBBORN; return the connection once it runs."""
    client = Raw(port)
    interleave(client)
    client.send_text(json.dumps(run_code(STUBBORN, "stubborn")).encode())
    assert client.reply(timeout=5) == {"tag": "started"}
    return client


@pytest.mark.parametrize("options", [[], ["--log-level", "INFO"]], ids=["default level", "INFO"])
def test_4_after_cancels_inside_logging_clients_are_served_and_the_forced_exit_fires(websocket_cli, options):
    server = websocket_cli(*options)
    cancel_logging_code(server.port)
    for number in range(3):
        newcomer = Raw(server.port, timeout=5)
        assert newcomer.call("run", "builtins:abs", -number, timeout=5)["response"] == number
        newcomer.close()
    start_stubborn(server.port)
    server.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert server.wait_stopped(timeout=10) == 0
    assert time.monotonic() - started < 5.5  # the forced exit comes at 4.5 s


def test_4_after_cancels_inside_logging_a_second_sigterm_during_a_stuck_stop_exits_at_once(websocket_cli):
    server = websocket_cli("--log-level", "INFO")
    cancel_logging_code(server.port)
    stubborn = start_stubborn(server.port)
    server.process.send_signal(signal.SIGTERM)
    fin, opcode, payload = stubborn.next_message(timeout=4)  # stopping has begun: the server closes connections
    assert opcode == CLOSE and close_code(payload) == 1001
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(5) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 1.5
