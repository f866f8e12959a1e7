"""The hello handshake, the limits it tells, and error replies whose evt is null: over the pipes of stand-in
servers that answer as the protocol says, and of real ones."""
import json
import sys
import threading

import pytest

from liaison import RemoteError
from liaison.client import FEATURES, spawn

#: The hello answer of a server that enabled interleave, with a small max_size.
HELLO = {"protocol": 2, "server": "liaison-backend", "version": "9.9", "features": ["interleave"],
         "available": ["interleave", "output"],
         "limits": {"max_size": 1000, "max_depth": 100, "max_int_digits": 4300, "send_timeout": 10}}

# A stdio server that logs every line it reads and answers hello as HELLO_ANSWER says: its HELLO, an
# error (an older liaison-backend), or null (liaison-py answers any unknown command so). It answers
# ping at once and other requests in order; with IN_ORDER, the first two others as if it could not
# read the first.
STAND_IN = '''#!{python}
import json, sys

HELLO_ANSWER, IN_ORDER, LOG = {hello!r}, {in_order!r}, {log!r}


def send(message):
    sys.stdout.write(json.dumps(message) + "\\n")
    sys.stdout.flush()


def response(request, value):
    return {{"response": value, "tag": "response", "evt": request}}


def failure(evt, type, message):
    return {{"error": [type + ": " + message], "exception": {{"type": type, "message": message}}, "tag": "error",
             "evt": evt}}


sys.stdout.write("LIAISON:CONNECTED@stdio\\n")
sys.stdout.flush()
waiting = []
for line in sys.stdin:
    with open(LOG, "a") as log:
        log.write(line)
    request = json.loads(line)
    command = request["command"]["command"]
    if command == "hello":
        send(failure(request, "CommandError", "unknown command 'hello'") if HELLO_ANSWER == "error"
             else response(request, HELLO_ANSWER))
    elif command == "ping":
        send(response(request, "pong"))
    elif not IN_ORDER:
        send(response(request, "ok"))
    else:
        waiting.append(request)
        if len(waiting) == 2:
            send(failure(None, "ProtocolError", "message is not valid JSON"))
            send(response(waiting[1], "second"))
sys.stdout.write("LIAISON:DISCONNECTED@stdio\\n")
'''


@pytest.fixture
def stand_in(tmp_path):
    """Spawn a client of a stand-in server; returns it and the requests it read so far, parsed. Closed after the test."""
    clients = []

    def start(hello, in_order=False):
        log = tmp_path / "requests.log"
        log.write_text("")
        python = tmp_path / "stand-in-python"
        python.write_text(STAND_IN.format(python=sys.executable, hello=hello, in_order=in_order, log=str(log)))
        python.chmod(0o755)
        client = spawn(python=str(python), transport="stdio", timeout=10)
        clients.append(client)
        return client, lambda: [json.loads(line) for line in log.read_text().splitlines()]

    yield start
    for client in clients:
        client.close()


def nested(levels):
    """A list nested *levels* deep around 0."""
    value = 0
    for _ in range(levels):
        value = [value]
    return value


def test_a_client_sends_hello_with_its_features_first_and_keeps_the_answer_and_its_limits(stand_in):
    client, received = stand_in(HELLO)
    assert received() == [{"command": {"command": "hello", "args": [], "kwargs": {"features": ["interleave"]}}, "id": 1}]
    assert FEATURES == ("interleave",)
    assert client.hello == HELLO

    # Over the server's limits: refused at once, and nothing is sent.
    with pytest.raises(ValueError, match=r"^cannot send run: the request is 10\d\d bytes, more than the 1000 the server "
                                         r"takes \(its --max-size\)$"):
        client.run("builtins:len", "\u00e9" * 160)
    # The request's outer object, its command, the args list: an argument may nest 97 levels.
    with pytest.raises(ValueError, match=r"^cannot send run: it nests arrays and objects more than the 100 levels the "
                                         r"server takes, counted from the request's outer object \(an argument may "
                                         r"nest 97\)$"):
        client.run("builtins:len", nested(98))
    assert len(received()) == 1
    assert client.run("builtins:len", nested(97)) == "ok"
    # Brackets inside strings are text.
    assert client.run("builtins:len", "[" * 200) == "ok"


@pytest.mark.parametrize("hello", ["error", None], ids=["an error reply", "liaison-py's null"])
def test_a_server_without_hello_leaves_hello_none_and_the_default_limits(stand_in, hello):
    client, _ = stand_in(hello)
    assert client.hello is None
    assert client.run("builtins:len", "x" * 5000) == "ok"
    with pytest.raises(ValueError, match="more than the 100 levels"):
        client.run("builtins:len", nested(98))


def test_an_error_reply_whose_evt_is_null_fails_the_oldest_unanswered_call_that_is_not_urgent(stand_in):
    client, received = stand_in(HELLO, in_order=True)
    outcomes = {}

    def call(name, *args):
        try:
            outcomes[name] = client.call(*args, timeout=5)
        except RemoteError as problem:
            outcomes[name] = problem

    first = threading.Thread(target=call, args=("first", "run", ["first"]))
    first.start()
    # The stand-in has read it: it waits, unanswered.
    assert client.ping() == "pong"
    assert [request["command"]["command"] for request in received()] == ["hello", "run", "ping"]
    call("second", "run", ["second"])
    first.join(10)
    assert outcomes["second"] == "second"
    assert isinstance(outcomes["first"], RemoteError) and str(outcomes["first"]) == "ProtocolError: message is not valid JSON"


def test_a_request_a_real_server_cannot_read_fails_at_once():
    # json.dumps writes NaN, which strict JSON has not: the server answers with evt null.
    with spawn(transport="stdio", timeout=10) as client:
        with pytest.raises(RemoteError) as unreadable:
            client.run("math:isnan", float("nan"))
        assert unreadable.value.type == "ProtocolError"
        assert client.run("math:isnan", 1.0) is False


def test_a_request_over_a_real_stdio_servers_max_size_fails_at_once_whether_it_has_hello_or_not():
    with spawn(transport="stdio", max_size=1000, timeout=10) as client:
        # With hello the client refuses it; without, the server answers with evt null, which fails this call.
        with pytest.raises((ValueError, RemoteError)) as refused:
            client.run("builtins:len", "x" * 2000)
        assert isinstance(refused.value, ValueError) or refused.value.type == "ProtocolError"
        assert client.run("builtins:len", "x" * 10) == 10


@pytest.mark.parametrize("transport", ["websocket", "stdio"])
def test_limits_are_checked_before_sending_to_a_real_server(transport):
    with spawn(transport=transport, timeout=10) as client:
        with pytest.raises(ValueError, match="more than the 100 levels"):
            client.run("builtins:len", nested(98))
        with pytest.raises(ValueError, match=r"^cannot send run: it holds an integer of more than the 4300 digits the "
                                             r"server takes; send it as a string$"):
            client.run("builtins:len", [-10 ** 4300])
        assert client.run("builtins:len", nested(97)) == 1
        assert client.run("builtins:len", [10 ** 4300 - 1]) == 1
        # Digits inside a string are text.
        assert client.run("builtins:len", "1" * 5000) == 5000


@pytest.mark.parametrize("transport", ["websocket", "stdio"])
def test_a_real_server_answers_hello_enabling_interleave(transport):
    with spawn(transport=transport, timeout=10) as client:
        assert (client.hello["protocol"], client.hello["server"]) == (2, "liaison-backend")
        assert client.hello["features"] == ["interleave"]
        assert "interleave" in client.hello["available"]
        assert client.hello["limits"]["max_depth"] == 100


# Servers before hello send such pushes at once too; one with hello holds them until the reply unless asked for interleave.
@pytest.mark.parametrize("transport", ["websocket", "stdio"])
def test_with_interleave_a_message_pushed_during_a_call_reaches_its_handler_before_the_calls_reply(transport):
    with spawn(transport=transport, timeout=10) as client:
        # The call starts a thread that pushes, then loops for 20 s or more, until the handler cancels it.
        client.init("pusher", "threading:Thread", target="$liaison.send", args=[{"tag": "made"}])
        seen = []

        def cancel_the_loop(message):
            seen.append(message)
            client.cancel(next(iter(client.in_flight())))

        client.on("made", lambda message: threading.Thread(target=cancel_the_loop, args=(message,)).start())
        with pytest.raises(RemoteError) as cancelled:
            client.call("run", ["timeit:timeit"], {"stmt": "pass", "setup": "pusher.start()", "number": 2 * 10 ** 9,
                                                   "globals": {"pusher": "$pusher"}})
        assert cancelled.value.type == "Cancelled"
        assert seen == [{"tag": "made"}]
