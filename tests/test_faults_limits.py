"""Issue 12, rule 4: bounded resources per client, whatever it sends."""
import json
import socket
import threading

import pytest

from conftest import wait_until
from liaison import Companion
from liaison.session import INBOX_MESSAGES, JOB_COST
from rawclient import (CONTINUATION, PING, PONG, TEXT, Raw, client_thread_alive, close_code, frame, request,
                       send_until_stalled)


def test_requests_queued_behind_a_command_are_bounded_by_back_pressure(make_server):
    gate = threading.Event()
    server = make_server(Companion({"gate": gate}), max_size=1 << 20)
    # Small socket buffers on both sides, so that what the server does not read stays with the client.
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    client = Raw(server.server_address[1])
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    client.read_in_background()
    client.send_text(request("run", "gate.wait", 30, id="first"))
    messages = [frame(TEXT, request("run", "builtins:len", "p" * 100000, id=number)) for number in range(300)]
    try:
        sent, rest = send_until_stalled(client.sock, messages)
        assert rest is not None, "the server read all 300 requests (30 MB) queued behind one command"
        fit = INBOX_MESSAGES * (1 << 20) // (len(messages[0]) + JOB_COST)  # what the inbox takes: 20
        assert fit <= sent <= fit + 10, sent  # plus what the sockets' buffers and the reader hold
    finally:
        gate.set()
    client.send(rest + b"".join(messages[sent + 1:]))
    assert client.reply()["evt"]["id"] == "first"
    for number in range(300):
        reply = client.reply()
        assert (reply["evt"]["id"], reply["response"]) == (number, 100000)


def test_sockets_still_in_their_handshake_do_not_count_against_max_clients(make_server):
    server = make_server(max_clients=4)
    port = server.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
    wait_until(lambda: all(client_thread_alive(sock.getsockname()[1]) for sock in idle))
    clients = [Raw(port) for _ in range(4)]
    assert [client.status for client in clients] == [101] * 4
    assert clients[0].call("ping")["response"] == "pong"
    assert Raw(port).status == 503  # max_clients counts open websockets
    for sock in idle:
        sock.close()


def test_three_hundred_silent_sockets_cannot_lock_a_client_out(make_server):
    server = make_server(handshake_timeout=60)
    port = server.server_address[1]
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
    client = Raw(port)
    assert client.status == 101
    assert client.call("ping")["response"] == "pong"
    for sock in silent:
        sock.close()


def test_requests_queued_by_a_client_that_left_are_dropped_and_free_its_slot(make_server):
    gate = threading.Event()
    record = []
    server = make_server(Companion({"gate": gate, "record": record}), max_clients=1)
    port = server.server_address[1]
    leaving = Raw(port)
    leaving.send_text(request("run", "gate.wait", 30, id="running"))
    for number in range(10):
        leaving.send_text(request("run", "record.append", number))
    leaving.send_text(request("ping", id="all read"))  # answered by the reader: the ten are queued
    assert leaving.reply_to("all read")["response"] == "pong"
    leaving.close()
    try:
        wait_until(lambda: not server.connected_clients(), timeout=5)
    finally:
        gate.set()
    wait_until(lambda: not client_thread_alive(leaving.local_port))
    assert record == []
    assert Raw(port).call("ping")["response"] == "pong"


EMPTY = request("run", "builtins:len", "", id="sized")


def sized_request(size):
    """A request of exactly *size* bytes, answered with ``size - len(EMPTY)``."""
    return request("run", "builtins:len", "q" * (size - len(EMPTY)), id="sized")


def test_pings_between_fragments_do_not_count_toward_the_size_limit(make_server):
    server = make_server(max_size=1000)
    client = Raw(server.server_address[1])
    message = sized_request(1000)
    client.send_frame(TEXT, message[:950], fin=False)
    client.send_frame(PING, b"p" * 125)
    client.send_frame(CONTINUATION, message[950:])
    assert client.recv_frame() == (True, PONG, b"p" * 125)
    assert client.reply()["response"] == 1000 - len(EMPTY)
    over = Raw(server.server_address[1])
    over.send_frame(TEXT, sized_request(1001))
    fin, opcode, payload = over.recv_frame()
    assert close_code(payload) == 1009


def run_abs_of(literal):
    """A request whose argument is the JSON *literal* (bytes), as it arrives."""
    return b'{"command": {"command": "run", "args": ["builtins:abs", ' + literal + b']}, "id": "digits"}'


@pytest.mark.parametrize("digits, tag", [(4300, "response"), (4301, "error"), (1000000, "error")])
def test_integers_over_4300_digits_are_refused_fast_on_every_python(server, digits, tag):
    client = Raw(server.server_address[1])
    client.send_text(run_abs_of(b"7" * digits))
    assert client.reply(timeout=5)["tag"] == tag
    assert client.call("ping")["response"] == "pong"


def nested(depth):
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth, tag", [(50, "response"), (600, "error"), (100000, "error")])
def test_deep_nesting_is_refused_with_a_short_error(server, depth, tag):
    client = Raw(server.server_address[1])
    client.send_text(b'{"command": {"command": "run", "args": ["builtins:len", ' + nested(depth) + b']}, "id": 1}')
    reply = client.reply(timeout=5)
    assert reply["tag"] == tag
    assert len(json.dumps({name: value for name, value in reply.items() if name != "evt"})) < 2048
