"""Issue 12, rule 1: no blocking I/O without a deadline while holding anything shared.

A stalled client completes the handshake, shrinks its receive buffer and never
reads; an 8 MB reply or push fills its buffers at once, so every write to it
waits until the server gives up on it.
"""
import signal
import socket
import threading
import time

from conftest import wait_until
from liaison import Companion
from rawclient import PONG, SMALL_RCVBUF, TEXT, Raw, client_thread_alive, request

BIG = "x" * (8 * 1024 * 1024)


def big_server(make_server, **options):
    """A server whose namespace holds ``big``, an 8 MB string; and its port."""
    server = make_server(Companion({"big": BIG, "gate": threading.Event()}), **options)
    return server, server.server_address[1]


def stalled_in_a_reply(port):
    """A client that asked for ``big`` and reads none of it; returns once the reply has started to arrive."""
    client = Raw(port, rcvbuf=SMALL_RCVBUF)
    client.send_text(request("get", "big"))
    wait_until(client.has_data)
    return client


def pong_blindly(client, done):
    """Send *client* pongs every millisecond until *done*, without reading: it answers every ping
    it never reads, so that only a full connection or a missed deadline can get it dropped."""
    def pong():
        try:
            while not done.wait(0.001):
                client.send_frame(PONG)
        except OSError:
            pass

    threading.Thread(target=pong, daemon=True).start()


def test_a_push_from_inside_a_command_drops_a_stalled_client_and_nobody_else_waits(make_server):
    server, port = big_server(make_server, send_timeout=2.0)
    stalled = Raw(port, rcvbuf=SMALL_RCVBUF)
    caller = Raw(port).read_in_background()
    other = Raw(port).read_in_background()
    wait_until(lambda: len(server.connected_clients()) == 3)
    started = time.monotonic()
    caller.send_text(request("run", "liaison.send", "$big", id="push"))
    other.send_text(request("run", "builtins:abs", -5, id="other"))
    assert caller.reply_to("push", timeout=20)["response"] == 3  # queued for all three: sending never waits
    assert other.reply_to("other", timeout=20)["response"] == 5
    assert time.monotonic() - started < 1.5, "a push waited on the stalled client's 2 s deadline"
    wait_until(lambda: len(server.connected_clients()) == 2)
    stalled.close()


def test_pushes_from_a_host_thread_never_wait_on_a_stalled_client(make_server):
    server, port = big_server(make_server, send_timeout=2.0)
    stalled = Raw(port, rcvbuf=SMALL_RCVBUF)
    listener = Raw(port).read_in_background()
    wait_until(lambda: len(server.connected_clients()) == 2)
    delivered = []

    def host_thread():
        for number in range(20000):
            delivered.append(server.send({"n": number, "pad": "y" * 1000}))

    pusher = threading.Thread(target=host_thread, daemon=True)
    pusher.start()
    pusher.join(30)
    assert not pusher.is_alive(), "a push to a client that stopped reading blocked the host thread"
    assert all(count >= 1 for count in delivered)
    wait_until(lambda: len(server.connected_clients()) == 1)
    for number in range(20000):
        assert listener.reply(timeout=20)["n"] == number
    stalled.close()


def test_with_pings_a_client_that_stops_reading_during_a_reply_is_dropped(make_server):
    server, port = big_server(make_server, ping_interval=0.2, send_timeout=1.0)
    observer = Raw(port).read_in_background()
    done = threading.Event()
    pong_blindly(stalled_in_a_reply(port), done)
    try:
        wait_until(lambda: len(server.connected_clients()) == 1)
    finally:
        done.set()
    assert observer.call("run", "builtins:abs", -1)["response"] == 1


def test_a_connection_that_takes_no_more_data_never_stops_the_keepalive_of_others(make_server):
    server, port = big_server(make_server, ping_interval=0.02, send_timeout=1.0)
    # Connections inherit the listening socket's send buffer: the smallest, so a few kilobytes fill it.
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
    full = Raw(port, rcvbuf=1)
    assert full.call("hello", features=["interleave"])["response"]["features"] == ["interleave"]  # pushes go at once
    full.send_text(request("run", "gate.wait", 30, id="long"))
    observer = Raw(port).read_in_background()
    observer.send_text(request("run", "builtins:abs", -1, id="queued"))  # waits for the gate: never judged
    done = threading.Event()
    pong_blindly(full, done)

    def push_now_and_then():
        """Fill the stalled connection a kilobyte at a time, leaving the keepalive room to find it full."""
        while not done.wait(0.05):
            server.send({"pad": "z" * 1000})

    threading.Thread(target=push_now_and_then, daemon=True).start()
    try:
        wait_until(lambda: len(server.connected_clients()) == 1)
        pinged = len(observer.pings)
        wait_until(lambda: len(observer.pings) >= pinged + 3)
    finally:
        done.set()
        server.companion.namespace["gate"].set()
    assert observer.reply_to("queued")["response"] == 1


def test_stop_closes_stalled_connections_all_at_once(make_server):
    server, port = big_server(make_server, send_timeout=30)
    stalled = [stalled_in_a_reply(port) for _ in range(8)]
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 4.0, "stop() took longer than its documented 4 s"
    for client in stalled:
        client.close()


def test_the_command_line_stops_within_5_s_whatever_stalled_clients_do(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    stalled = []
    for _ in range(8):
        client = Raw(port, rcvbuf=SMALL_RCVBUF)
        client.send_text(request("run", "operator:mul", "x", 8000000))
        stalled.append(client)
    wait_until(lambda: any(client.has_data() for client in stalled))
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_stopped(timeout=15) == 0
    assert time.monotonic() - started < 5.0
    for client in stalled:
        client.close()


def test_a_protocol_error_from_a_stalled_client_does_not_hold_its_thread(make_server):
    server, port = big_server(make_server, send_timeout=0.5)
    stalled = stalled_in_a_reply(port)
    stalled.send_frame(TEXT, b"{}", masked=False)  # client frames must be masked: close with 1002
    wait_until(lambda: not client_thread_alive(stalled.local_port))
    assert Raw(port).call("ping")["response"] == "pong"


def test_on_the_command_line_a_stalled_client_does_not_hold_up_the_commands_of_others(cli):
    server = cli("127.0.0.1:0", "--send-timeout", "30")
    _, port = server.wait_started()
    stalled = Raw(port, rcvbuf=SMALL_RCVBUF)
    stalled.send_text(request("run", "operator:mul", "x", 8000000))
    wait_until(stalled.has_data)
    other = Raw(port)
    assert other.call("run", "builtins:abs", -1, timeout=5)["response"] == 1  # within 5 s of a 30 s deadline
    stalled.close()
