"""Issue 12, rule 10: replies are well-formed JSON for every result, and unexpected errors in
connection threads go through the ``liaison`` logger, never raw to stderr."""
import json
import subprocess
import sys

import pytest

from conftest import wait_until
from liaison import Companion
from liaison.websocket import LiaisonHandler, WebsocketLiaison
from rawclient import Raw, client_thread_alive, request, serve


def no_duplicate_names(pairs):
    """An ``object_pairs_hook`` that fails on an object with two members of one name."""
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), "duplicate JSON names: {}".format(names)
    return dict(pairs)


def test_a_reply_never_holds_an_object_with_two_members_of_one_name(server):
    client = Raw(server.server_address[1])
    client.send_text(request("run", "builtins:dict", [[1, "int key"], ["1", "str key"]], id="keys"))
    fin, opcode, payload = client.next_message()
    reply = json.loads(payload.decode("utf-8"), object_pairs_hook=no_duplicate_names)
    assert reply["evt"]["id"] == "keys"


def logged_errors(caplog, words):
    """Records of the ``liaison`` logger carrying a traceback and *words*."""
    return [record for record in caplog.records
            if record.name == "liaison" and record.exc_info and words in str(record.exc_info[1])]


class LeaveHookRaises(WebsocketLiaison):
    def client_left(self, client, server):
        raise RuntimeError("the client_left hook failed")


def test_an_error_in_a_hook_is_logged_not_printed(capfd, caplog):
    with serve(LeaveHookRaises("127.0.0.1", 0, Companion())) as port:
        client = Raw(port)
        assert client.call("ping")["response"] == "pong"
        client.close()
        wait_until(lambda: not client_thread_alive(client.local_port))
        assert Raw(port).call("ping")["response"] == "pong"
    assert logged_errors(caplog, "the client_left hook failed")
    assert "Traceback" not in capfd.readouterr().err


class BrokenHandler(LiaisonHandler):
    def handle(self):
        raise RuntimeError("a bug in a connection's handler")


class BrokenHandlerServer(WebsocketLiaison):
    RequestHandlerClass = BrokenHandler


def test_an_unexpected_error_in_a_connection_thread_is_logged_not_printed(capfd, caplog):
    with serve(BrokenHandlerServer("127.0.0.1", 0, Companion())) as port:
        with pytest.raises((EOFError, OSError)):
            Raw(port)
        wait_until(lambda: logged_errors(caplog, "a bug in a connection's handler"))
    assert "Traceback" not in capfd.readouterr().err


def test_dates_are_encoded_without_liaison_importing_datetime():
    code = ("import sys, json\n"
            "from liaison.encoding import dumps\n"
            "assert 'datetime' not in sys.modules, 'liaison imported datetime'\n"
            "import datetime\n"
            "print(dumps([datetime.date(2024, 1, 2), datetime.time(3, 4), datetime.datetime(2024, 1, 2, 3, 4, 5)]))\n")
    output = subprocess.check_output([sys.executable, "-c", code]).decode()
    assert json.loads(output) == ["2024-01-02", "03:04:00", "2024-01-02T03:04:05"]
