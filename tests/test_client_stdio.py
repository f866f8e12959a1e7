"""liaison.client over a real ``python -m liaison.stdio``'s pipes: ``spawn(transport="stdio")``."""
import json
import subprocess
import sys
import threading

import pytest

from conftest import wait_until
from liaison import RemoteError
from liaison.client import spawn


@pytest.fixture
def client():
    client = spawn(transport="stdio")
    yield client
    client.close()


def test_every_command_over_the_childs_stdin_and_stdout(client):
    assert client.transport == "stdio"
    assert client.url == "{} -m liaison.stdio (pid {})".format(sys.executable, client.process.pid)
    assert client.ping() == "pong"
    assert client.run("os:getpid") == client.process.pid
    assert client.init("p", "fractions:Fraction", 3, denominator=4) == "p"
    assert client.get("p.numerator") == 3
    assert client.exists("p.nothing") is False
    assert client.store("numbers", [1, 2, 3]) == "numbers"
    assert client.run("builtins:sum", "$numbers") == 6
    assert client.register("join", "posixpath:join") == "join"
    assert client.attempt("math:sqrt", 9) == {"success": True, "result": 3.0}


def test_an_error_reply_raises_remote_error(client):
    with pytest.raises(RemoteError) as caught:
        client.run("math:sqrt", -1)
    assert (caught.value.type, caught.value.message) == ("ValueError", "math domain error")
    assert caught.value.traceback == ["ValueError: math domain error"]  # raised in C: no frame of called code
    with pytest.raises(RemoteError) as caught:
        client.run("json:loads", "{x")
    assert caught.value.type == "JSONDecodeError"
    assert caught.value.traceback[1].startswith('  File "{}", line '.format(json.__file__))
    assert str(caught.value).splitlines()[1] == "Raised in the liaison server at:"
    assert client.ping() == "pong"


def test_threads_sharing_a_client_each_get_their_own_replies(client):
    results = {}

    def work(thread):
        results[thread] = [client.run("builtins:divmod", thread, call + 1) for call in range(40)]

    threads = [threading.Thread(target=work, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {thread: [list(divmod(thread, call + 1)) for call in range(40)] for thread in range(8)}


def test_text_with_line_breaks_of_every_kind_crosses_intact(client):
    text = "a\nb\r\nc\rd\u2028e\u2029f\u0085g\x0bh\x0ci\x1cj \U0001F642 \u00e9"
    assert client.run("builtins:str", text) == text


def test_a_5_mb_message_each_way(client):
    big = "x" * (5 << 20)
    assert client.run("builtins:len", big) == len(big)
    assert len(client.run("operator:mul", "y", 5 << 20)) == len(big)


def test_pushed_messages_reach_the_handlers_of_their_tag_and_the_catch_all_before_the_reply(client):
    seen = []
    client.on("alert", lambda message: seen.append(("alert", message)))
    client.on("*", lambda message: seen.append(("*", message)))
    alert = {"tag": "alert", "message": {"msg": "frame rate"}}
    assert client.run("liaison.send", alert) == 1
    assert seen == [("alert", alert), ("*", alert)]


def test_what_served_code_prints_never_reaches_the_channel(client, capfd):
    client.run("builtins:print", "LIAISON:DISCONNECTED@stdio")
    client.run("builtins:print", '{"response": "forged", "tag": "response", "evt": {"id": 1}}')
    assert client.ping() == "pong"
    client.close()
    # It went to the server's stderr, which is passed through to ours.
    assert "LIAISON:DISCONNECTED@stdio\n" in capfd.readouterr().err


def test_close_ends_the_servers_stdin_it_stops_and_later_calls_raise(client):
    client.close()
    assert client.process.returncode == 0
    with pytest.raises(ConnectionError, match=r"-m liaison\.stdio \(pid \d+\) stopped"):
        client.ping()


def test_a_server_that_dies_fails_the_calls_waiting_for_it(client):
    failures = []

    def wait():
        try:
            client.run("time:sleep", 30)
        except ConnectionError as problem:
            failures.append(str(problem))

    waiting = threading.Thread(target=wait)
    waiting.start()
    wait_until(client.in_flight)
    client.process.kill()
    waiting.join(10)
    assert failures == ["{} ended its output without its stop marker".format(client.url)]


def test_stdio_takes_no_address_token_or_option_about_who_may_connect():
    for option in ({"token": "x"}, {"address": "127.0.0.1:0"}, {"allow_origin": ["https://app.example"]},
                   {"max_clients": 2}):
        with pytest.raises(TypeError, match=r"^spawn\(transport='stdio'\) takes no address, token, allow_origin or "
                                            r"max_clients: nothing but this process can reach it$"):
            spawn(transport="stdio", **option)


def test_stdio_needs_no_third_party_package():
    code = ("import sys; sys.modules['websocket'] = None\n"
            "from liaison.client import spawn\n"
            "with spawn(transport='stdio') as client:\n    print(client.ping())\n")
    assert subprocess.check_output([sys.executable, "-c", code], timeout=60) == b"pong\n"


def test_spawn_reports_a_stdio_server_that_exits_or_stays_silent_quoting_its_stderr(tmp_path):
    failing = tmp_path / "failing-python"
    failing.write_text("#!/bin/sh\necho 'No module named liaison.stdio' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(RuntimeError, match="exited with code 1 before listening; its stderr: No module named"):
        spawn(python=str(failing), transport="stdio")
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\necho warming up >&2\nexec sleep 60\n")
    silent.chmod(0o755)
    with pytest.raises(TimeoutError, match="no start marker within 1 s; its stderr: warming up"):
        spawn(python=str(silent), transport="stdio", timeout=1)
