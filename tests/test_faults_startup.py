"""Issue 12, rule 8: start-up races and inherited API that bypasses the lifecycle.

(A parent that dies before the parent watch starts is tested with the lifecycle module.)
"""
import os
import select
import signal
import subprocess
import sys

import pytest

from liaison import Companion
from liaison.constants import START_MARKER, STOP_MARKER
from liaison.websocket import LiaisonHandler, WebsocketLiaison
from rawclient import Raw, serve


@pytest.mark.parametrize("module", ["liaison.websocket", "liaison.stdio"])
def test_help_works_under_python_OO(module):
    help_text = subprocess.check_output([sys.executable, "-OO", "-m", module, "--help"], timeout=30)
    assert b"--log-level" in help_text


def test_the_command_line_serves_under_python_OO():
    process = subprocess.Popen([sys.executable, "-OO", "-m", "liaison.websocket", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert select.select([process.stdout], [], [], 20)[0], "no START marker within 20 s"
        started = os.read(process.stdout.fileno(), 65536).decode()
        assert started.startswith(START_MARKER + "@"), started
        assert Raw(int(started.rpartition(":")[2])).call("ping")["response"] == "pong"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out.decode().startswith(STOP_MARKER + "@")


def test_run_forever_threaded_then_stop_ends_the_serving_thread():
    server = WebsocketLiaison("127.0.0.1", 0, Companion())
    server.run_forever(threaded=True)
    assert Raw(server.server_address[1]).call("ping")["response"] == "pong"
    server.stop()
    server.thread.join(5)
    assert not server.thread.is_alive(), "the thread run_forever started goes on after stop()"


def test_set_fn_message_received_is_refused_with_a_clear_error():
    server = WebsocketLiaison("127.0.0.1", 0, Companion())
    try:
        with pytest.raises(TypeError, match="command"):
            server.set_fn_message_received(lambda client, server, message: None)
    finally:
        server.stop()


def test_a_request_handler_class_set_on_a_subclass_serves_its_connections():
    opened = []

    class RecordingHandler(LiaisonHandler):
        def setup(self):
            super().setup()
            opened.append(self.client_address)

    class RecordingServer(WebsocketLiaison):
        RequestHandlerClass = RecordingHandler

    with serve(RecordingServer("127.0.0.1", 0, Companion())) as port:
        client = Raw(port)
        assert client.call("ping")["response"] == "pong"
    assert opened == [("127.0.0.1", client.local_port)]
