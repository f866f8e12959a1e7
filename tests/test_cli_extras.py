"""``python -m liaison.websocket`` in environments a newcomer has: without the ``websocket`` extra, and
under ``python -OO`` (no docstrings)."""
import json
import os
import select
import signal
import subprocess
import sys

import pytest
import websocket

from liaison import __version__
from liaison.constants import START_MARKER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL_HINT = "pip install 'liaison-backend[websocket]'"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """The Python of a fresh venv with nothing installed: liaison comes from the checkout (the working
    directory), websocket-server from nowhere."""
    venv = tmp_path_factory.mktemp("bare")
    subprocess.check_call([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = os.path.join(str(venv), "Scripts" if os.name == "nt" else "bin", "python")
    probe = subprocess.run([python, "-c", "import websocket_server"], cwd=ROOT, stderr=subprocess.PIPE)
    assert probe.returncode != 0, "the fresh venv can import websocket_server: the test would prove nothing"
    return python


def run(python, *args):
    return subprocess.run([python] + list(args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)


def test_missing_extra_is_one_line_naming_the_install_command(bare_python):
    done = run(bare_python, "-m", "liaison.websocket", "127.0.0.1:0")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and INSTALL_HINT in done.stderr, done.stderr


@pytest.mark.parametrize("option, shows", [("--help", "--log-level"), ("--version", __version__)])
def test_help_and_version_work_without_the_extra(bare_python, option, shows):
    done = run(bare_python, "-m", "liaison.websocket", option)
    assert done.returncode == 0 and shows in done.stdout, done.stderr


def test_importing_the_transport_without_the_extra_names_the_install_command(bare_python):
    done = run(bare_python, "-c", "from liaison.websocket import WebsocketLiaison")
    assert done.returncode == 1 and INSTALL_HINT in done.stderr.splitlines()[-1], done.stderr


@pytest.mark.parametrize("option, shows", [("--help", "--log-level"), ("--version", __version__)])
def test_help_and_version_work_without_docstrings(option, shows):
    done = run(sys.executable, "-OO", "-m", "liaison.websocket", option)
    assert done.returncode == 0 and shows in done.stdout, done.stderr


def test_serves_without_docstrings():
    server = subprocess.Popen([sys.executable, "-OO", "-m", "liaison.websocket", "127.0.0.1:0"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 20)
        marker = os.read(server.stdout.fileno(), 65536).decode() if ready else ""
        if not marker.startswith(START_MARKER + "@127.0.0.1:"):
            server.kill()
            pytest.fail("no start marker ({!r}); stderr: {}".format(marker, server.stderr.read().decode()))
        client = websocket.create_connection("ws://" + marker.partition("@")[2], timeout=20)
        client.send('{"command": {"command": "run", "args": ["math:sqrt", 2]}}')
        assert json.loads(client.recv())["response"] == 2 ** 0.5
        client.close()
        server.send_signal(signal.SIGTERM if os.name != "nt" else signal.CTRL_BREAK_EVENT)
        assert server.wait(20) == 0
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
        server.stderr.close()
