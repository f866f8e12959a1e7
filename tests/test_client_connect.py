"""Why liaison.client's connect() failed, said so that the user knows what to do: against real servers."""
import socket

import pytest

from liaison import Companion
from liaison.client import connect

TOKEN_SOURCE = "the one the server was started with (its LIAISON_TOKEN or --token)"


def url_of(server, host="127.0.0.1"):
    return "ws://{}:{}".format(host, server.server_address[1])


def test_a_missing_or_wrong_token_says_which_and_what_to_pass(make_server):
    url = url_of(make_server(Companion(), token="right"))
    with pytest.raises(ConnectionRefusedError) as missing:
        connect(url)
    assert str(missing.value) == "{} wants a token (HTTP 401): pass {} as token=...".format(url, TOKEN_SOURCE)
    with pytest.raises(ConnectionRefusedError) as wrong:
        connect(url, token="wrong")
    assert str(wrong.value) == "{} refused the token (HTTP 401): pass {}".format(url, TOKEN_SOURCE)
    connect(url, token="right").close()


def test_a_refused_host_name_says_where_to_connect(make_server):
    # The Host check (against DNS rebinding) refuses a name that is not this machine's; 0.0.0.0 reaches it on Linux.
    url = url_of(make_server(Companion()), host="0.0.0.0")
    with pytest.raises(ConnectionRefusedError) as refused:
        connect(url)
    assert str(refused.value) == (
        "{} refused the host name 0.0.0.0 (HTTP 403, against DNS rebinding): connect to localhost, 127.0.0.1 or the "
        "address the server was started on".format(url))


def test_a_full_server_says_so(make_server):
    server = make_server(Companion(), max_clients=1)
    url = url_of(server)
    held = connect(url)
    try:
        with pytest.raises(ConnectionRefusedError) as full:
            connect(url)
    finally:
        held.close()
    assert str(full.value) == (
        "{} is full (HTTP 503): it has as many clients as its --max-clients allows; close another client, or start "
        "the server with a higher --max-clients".format(url))


def test_nothing_listening_names_the_address_tried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError) as refused:
        connect("127.0.0.1:{}".format(port))
    assert str(refused.value) == "nothing is listening at ws://127.0.0.1:{}: is the server started, at this address?".format(
        port)


def test_a_server_that_never_answers_the_handshake_times_out_naming_the_address():
    # The kernel completes the TCP handshake for a listening socket nobody accepts from.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = "ws://127.0.0.1:{}".format(silent.getsockname()[1])
        with pytest.raises(TimeoutError) as late:
            connect(url, timeout=0.5)
    assert str(late.value) == "could not connect to {} within 0.5 s".format(url)


@pytest.mark.parametrize("address", ["localhost", "ws://localhost", "ws://localhost/", "[::1]", "127.0.0.1:"])
def test_an_address_without_a_port_is_refused_not_taken_as_port_80(address):
    with pytest.raises(ValueError) as refused:
        connect(address)
    assert str(refused.value) == (
        "{!r} has no port: give HOST:PORT, for example localhost:8001 (the server's default), or the port its start "
        "marker shows".format(address))


def test_an_address_with_a_port_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"^'localhost:99999' is not an address \(.*\): give HOST:PORT or ws://HOST:PORT"):
        connect("localhost:99999")
