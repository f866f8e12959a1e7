"""Issue 20, reply accounting: requests racing with cancels and deadlines each get exactly one reply,
and clients that come, cancel and go leave no thread, descriptor or memory behind."""
import collections
import json
import os
import random

import pytest

from conftest import closing_all, drive_together, wait_until
from interruption import WebsocketCLI, rss_kib, run_code, thread_count
from rawclient import CLOSE, TEXT, Raw, frame, request

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")

#: Pushes a few messages to its caller, then loops for a millisecond or two: a cancel or deadline may land
#: anywhere in it.
BRIEF = "\n".join([
    "for n in range(5):",
    "    liaison.send({'n': n, 'pad': 'a' * 3000}, client=liaison.current_client())",
    "total = 0",
    "for n in range(30000):",
    "    total += n",
])


@pytest.fixture
def websocket_cli():
    """Start ``python -m liaison.websocket`` subprocesses (stderr to a file); all are killed after the test."""
    yield from closing_all(WebsocketCLI)


def quick_request(ident, chance):
    """A quick command, or BRIEF with a deadline that may pass while it waits or while it runs, as a frame."""
    if chance.random() < 0.7:
        return frame(TEXT, request("run", "math:fabs", -1, id=ident))
    message = run_code(BRIEF, ident, timeout=chance.choice([0.0005, 0.001, 0.002, 0.005]))
    return frame(TEXT, json.dumps(message).encode())


class Tally:
    """The replies a client got, by request id, and the pushes between them."""

    def __init__(self, client):
        self.client = client
        self.replies = collections.Counter()

    def read(self):
        """Read one message: return it if pushed (checking that it is whole), else count it as a reply."""
        message = self.client.reply(timeout=20)
        if "evt" not in message:
            assert set(message) == {"n", "pad"} and message["pad"] == "a" * 3000, message
            return message
        ident = message["evt"]["id"]
        self.replies[ident] += 1
        if message["tag"] == "error":
            assert message["exception"]["type"] == "Cancelled", message
        elif ident.startswith("cancel"):
            assert message["response"] in ("interrupted", "finished", "dequeued"), message
        return None

    def next_push(self):
        """Read until the next pushed message, counting the replies on the way."""
        while self.read() is None:
            pass

    def wait_for(self, ident):
        """Read until the reply to *ident*."""
        while not self.replies[ident]:
            self.read()


def test_ten_thousand_requests_racing_with_cancels_and_deadlines_get_one_reply_each(websocket_cli):
    server = websocket_cli()
    clients = [Raw(server.port) for _ in range(8)]
    for client in clients:
        assert client.call("hello", features=["interleave"])["response"]["features"] == ["interleave"]
        client.read_in_background()

    def drive(client, seed):
        """Send 1,250 requests and cancels in rounds: a few quick ones, then BRIEF cancelled after its
        first to fifth push; each round once the last one's replies came."""
        chance = random.Random(seed)
        tally = Tally(client)
        expected = collections.Counter()
        sent = 0
        while sent < 1250:
            idents = ["r{}".format(sent + number) for number in range(chance.randint(1, 8))]
            client.send(b"".join(quick_request(ident, chance) for ident in idents))
            expected.update(idents)
            brief = "brief{}".format(sent)
            client.send_text(json.dumps(run_code(BRIEF, brief)).encode())
            for _ in range(chance.randint(1, 5)):
                tally.next_push()
            client.send_text(request("cancel", brief, id="cancel" + brief))
            expected.update([brief, "cancel" + brief])
            sent += len(idents) + 2
            tally.wait_for(brief)
            tally.wait_for("cancel" + brief)
        client.send_text(request("run", "math:fabs", -1, id="last"))
        tally.wait_for("last")
        del tally.replies["last"]
        assert tally.replies == expected

    assert drive_together(clients, drive) == []
    assert all(client.call("ping")["response"] == "pong" for client in clients)


def descriptor_count(pid):
    return len(os.listdir("/proc/{}/fd".format(pid)))


def test_two_thousand_clients_that_connect_cancel_and_leave_leave_nothing_behind(websocket_cli):
    server = websocket_cli()

    def cycle(number, chance):
        """Connect, start BRIEF, cancel it once it has pushed, and leave, in one of three ways."""
        client = Raw(server.port)
        assert client.call("hello", features=["interleave"])["response"]["features"] == ["interleave"]
        ident = "brief-{}".format(number)
        client.send_text(json.dumps(run_code(BRIEF, ident)).encode())
        assert client.reply()["n"] == 0
        client.send_text(request("cancel", ident, id="cancel"))
        ending = chance.random()
        if ending < 0.5:  # reads both replies (and what BRIEF pushed), then closes politely
            answered = set()
            while len(answered) < 2:
                answered.add(client.reply().get("evt", {}).get("id"))
                answered.discard(None)
            client.send_frame(CLOSE, b"\x03\xe8")
        elif ending < 0.75:  # leaves once the cancel is answered
            client.reply_to("cancel")
        client.close()

    def cycles(first, count):
        """*count* cycles one after another, four such series at once: each with its own chances."""
        def series(client, number):
            chance = random.Random(first + number)
            for step in range(count):
                cycle("{}-{}".format(number, first + step), chance)

        assert drive_together(range(4), series) == []

    cycles(0, 50)  # what a first use of every path costs
    probe = Raw(server.port)
    assert probe.call("ping")["response"] == "pong"
    threads, descriptors, memory = thread_count(server.pid), descriptor_count(server.pid), rss_kib(server.pid)
    cycles(100, 500)
    wait_until(lambda: thread_count(server.pid) <= threads + 1)
    wait_until(lambda: descriptor_count(server.pid) <= descriptors + 2)
    assert probe.call("ping")["response"] == "pong"
    grown = rss_kib(server.pid) - memory
    assert grown < 8 * 1024, "{} MiB more after 2,000 clients came, cancelled and left".format(grown // 1024)
