"""The markers on stdout when nobody reads them any more: a frontend that died closed the pipe."""
import os
import signal

import pytest

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def test_stop_marker_to_a_closed_pipe_exits_0_quietly(cli):
    server = cli("127.0.0.1:0")
    server.wait_started()
    server.process.stdout.close()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 0
    assert server.process.stderr.read().decode() == ""
