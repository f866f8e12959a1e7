"""The parent watch of ``python -m liaison.websocket``: what it says when it stops the server, and a parent
that died before the watch started."""
import json
import os
import re
import select
import signal
import subprocess
import sys

import pytest
import websocket

from liaison.constants import START_MARKER, STOP_MARKER

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX process ids and groups")

# A frontend stand-in, leading a process group of its own as a shell with job control makes it. It starts
# SERVER with stdout and stderr on the test's pipes, tells the server's id, then waits to be killed or, with
# "exit", exits at once. With "session", the server leads a session (and a group) of its own, as a service is.
FRONTEND = """
import os, subprocess, sys
os.setpgrp()
out, err, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
server = subprocess.Popen([sys.executable, "-c", sys.argv[4], str(os.getpid())] + sys.argv[5:],
                          stdout=out, stderr=err, pass_fds=(out, err), start_new_session=mode == "session")
print(server.pid, flush=True)
if mode == "wait":
    sys.stdin.read()
"""

# The server, started late on purpose: it waits until its parent has died and PID 1 has adopted it (the race
# the watch must catch), then runs the command line. Polling here is the condition itself, not a delay.
LATE_SERVER = """
import os, sys, time
while os.getppid() == int(sys.argv[1]):
    time.sleep(0.01)
if os.getppid() != 1:
    sys.stdout.write("adopted by {}, not PID 1".format(os.getppid()))
    sys.exit(1)
from liaison.websocket.__main__ import main
sys.exit(main(sys.argv[2:]))
"""

SERVER = """
import sys
from liaison.websocket.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


class Frontend:
    """A FRONTEND process and the pipes its server writes to."""

    def __init__(self, mode, server, *args):
        self.out, out = os.pipe()
        self.err, err = os.pipe()
        self.process = subprocess.Popen([sys.executable, "-c", FRONTEND, str(out), str(err), mode, server] +
                                        list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        pass_fds=(out, err))
        os.close(out)
        os.close(err)
        self.server = int(self.process.stdout.readline())

    def read(self, fd, timeout=20):
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, "nothing on the pipe within {} s".format(timeout)
        return os.read(fd, 65536).decode()

    def read_to_end(self, fd):
        """Everything still to come on *fd*, until the server has closed it."""
        text = ""
        chunk = self.read(fd)
        while chunk:
            text += chunk
            chunk = self.read(fd)
        return text

    def close(self):
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()
        try:
            os.kill(self.server, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self.out)
        os.close(self.err)


@pytest.fixture
def frontend():
    started = []

    def start(mode, server, *args):
        started.append(Frontend(mode, server, *args))
        return started[-1]

    yield start
    for each in started:
        each.close()


def start_marker(frontend):
    """The first chunk on the server's stdout, which must be its start marker."""
    chunk = frontend.read(frontend.out)
    if chunk.startswith("adopted by"):
        pytest.skip("orphans are adopted by a subreaper here: " + chunk)
    assert chunk.startswith(START_MARKER + "@127.0.0.1:"), chunk
    return chunk


def started_port(frontend):
    return int(start_marker(frontend).rpartition(":")[2])


def test_stop_on_parent_death_is_a_warning_on_stderr(frontend):
    started = frontend("wait", SERVER, "127.0.0.1:0")
    port = started_port(started)
    started.process.kill()
    started.process.wait()
    assert started.read(started.out) == "{}@127.0.0.1:{}".format(STOP_MARKER, port)
    log = started.read_to_end(started.err)
    assert " WARNING: parent process {} died; stopping".format(started.process.pid) in log, log


def test_a_parent_that_died_before_the_watch_started_stops_the_server(frontend):
    started = frontend("exit", LATE_SERVER, "127.0.0.1:0")
    markers = start_marker(started) + started.read_to_end(started.out)
    expected = r"{}@127\.0\.0\.1:(\d+){}@127\.0\.0\.1:\1".format(START_MARKER, STOP_MARKER)
    assert re.fullmatch(expected, markers), markers
    log = started.read_to_end(started.err)
    assert " WARNING: the process that started this one died before it could be watched" in log, log


def test_a_server_leading_its_own_session_under_pid_1_is_not_an_orphan(frontend):
    """As systemd or a container's init starts it: PID 1 is its parent from the start."""
    started = frontend("session", LATE_SERVER, "127.0.0.1:0")
    port = started_port(started)
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)
    client.send('{"command": {"command": "ping"}}')
    assert json.loads(client.recv())["response"] == "pong"
    client.close()
    ready, _, _ = select.select([started.out], [], [], 0)
    assert not ready, "the server wrote more than its start marker"
