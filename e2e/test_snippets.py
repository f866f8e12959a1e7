"""README.rst's Python snippets, extracted from it and run as printed, each in its own Python.

The wx and Qt embedding snippets run under small stand-ins for ``wx`` and ``PyQt5``
written by the test: a main loop on the main thread that runs queued calls, as the
real toolkits do. When the snippet enters that loop, a driver thread connects to
the snippet's server with a real websocket client, checks that commands run on the
main (GUI) thread and see the snippet's namespace, then closes the window (wx) or
quits the application (Qt) and checks that the server closed its connection with
1001. One change is made to those two snippets: port 8001 becomes 0, since tests
only take free ports.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from liaison.client import spawn
from readme import example

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Shared by the stand-ins: the main loop's queue, and the driver thread started when the loop starts.
DRIVER = '''
import gc, json, queue, threading
import websocket
from liaison.websocket import WebsocketLiaison

calls = queue.Queue()


def run_loop(running):
    """Run queued calls on this (the main) thread while running() is true."""
    while running():
        calls.get()()


def start(check, quit):
    """Drive the snippet's one server from a new thread: check(client) may send commands; then quit()."""
    servers = [o for o in gc.get_objects() if isinstance(o, WebsocketLiaison)]
    assert len(servers) == 1, servers
    url = "ws://127.0.0.1:{}".format(servers[0].server_address[1])
    threading.Thread(target=drive, args=(url, check, quit), name="driver").start()


def call(client, command, *args):
    client.send(json.dumps({"command": {"command": command, "args": list(args)}, "id": 1}))
    reply = json.loads(client.recv())
    assert reply["tag"] == "response", reply
    return reply["response"]


def drive(url, check, quit):
    client = websocket.create_connection(url, timeout=20)
    try:
        on_gui_thread = call(client, "run", "threading:get_ident") == threading.main_thread().ident
        print(json.dumps({"on GUI thread": on_gui_thread, "checked": check(client)}), flush=True)
    finally:
        calls.put(quit)
    opcode, data = client.recv_data(control_frame=True)
    print(json.dumps({"closed": [opcode, int.from_bytes(data[:2], "big")]}), flush=True)
'''

FAKE_WX = '''
"""The few wxPython names README's snippet uses."""
import snippet_driver

EVT_CLOSE = "EVT_CLOSE"
_shown = []


def CallAfter(function, *args, **kwargs):
    snippet_driver.calls.put(lambda: function(*args, **kwargs))


class CloseEvent:
    skipped = False

    def Skip(self):
        self.skipped = True


class Frame:
    def __init__(self, parent, title=""):
        self.title = title
        self.handlers = {}

    def Bind(self, event, handler):
        self.handlers[event] = handler

    def Show(self):
        _shown.append(self)

    def GetTitle(self):
        return self.title

    def Close(self):
        event = CloseEvent()
        self.handlers[EVT_CLOSE](event)
        if event.skipped:
            _shown.remove(self)


class App:
    def MainLoop(self):
        """Run until the last frame is closed, as wx does."""
        frame, = _shown
        snippet_driver.start(lambda client: snippet_driver.call(client, "run", "frame.GetTitle"), frame.Close)
        snippet_driver.run_loop(lambda: _shown)
'''

FAKE_QTCORE = '''
"""The few PyQt5.QtCore names README's snippet uses; a signal emitted on another thread than its
object's is queued to the main loop, as Qt's queued connections do."""
import threading
import snippet_driver


class QObject:
    def __init__(self):
        self.thread = threading.current_thread()


class BoundSignal:
    def __init__(self, owner):
        self.owner = owner
        self.slots = []

    def connect(self, slot):
        self.slots.append(slot)

    def emit(self, *args):
        for slot in self.slots:
            if threading.current_thread() is self.owner.thread:
                slot(*args)
            else:
                snippet_driver.calls.put(lambda slot=slot: slot(*args))


class pyqtSignal:
    def __init__(self, *types):
        pass

    def __get__(self, owner, kind=None):
        if owner is None:
            return self
        return owner.__dict__.setdefault(("signal", id(self)), BoundSignal(owner))


def pyqtSlot(*types):
    return lambda function: function
'''

FAKE_QTWIDGETS = '''
"""PyQt5.QtWidgets.QApplication as README's snippet uses it."""
import snippet_driver
from PyQt5.QtCore import QObject, pyqtSignal


class QApplication(QObject):
    aboutToQuit = pyqtSignal()

    def __init__(self, argv):
        super().__init__()
        self.running = True

    def quit(self):
        self.running = False

    def exec_(self):
        snippet_driver.start(lambda client: None, self.quit)
        snippet_driver.run_loop(lambda: self.running)
        self.aboutToQuit.emit()
        return 0
'''


def run_python(source, cwd=ROOT, path=(), env=None):
    """Run *source* with this test's Python; return its stdout, failing on a non-zero exit."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(list(path) + [ROOT])
    done = subprocess.run([sys.executable, "-c", source], cwd=cwd, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def toolkits(tmp_path):
    """A folder holding the stand-in wx and PyQt5 modules."""
    (tmp_path / "snippet_driver.py").write_text(DRIVER)
    (tmp_path / "wx.py").write_text(FAKE_WX)
    (tmp_path / "PyQt5").mkdir()
    (tmp_path / "PyQt5" / "__init__.py").write_text("")
    (tmp_path / "PyQt5" / "QtCore.py").write_text(FAKE_QTCORE)
    (tmp_path / "PyQt5" / "QtWidgets.py").write_text(FAKE_QTWIDGETS)
    return str(tmp_path)


def on_a_free_port(snippet):
    assert snippet.count("8001") == 1, snippet
    return snippet.replace("8001", "0")


def driven(stdout):
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert len(lines) == 2, stdout
    return lines[0], lines[1]["closed"]


def test_wx_snippet(toolkits, tmp_path):
    checks, closed = driven(run_python(on_a_free_port(example("python", "import wx")), tmp_path, [toolkits]))
    assert checks == {"on GUI thread": True, "checked": "host"}
    assert closed == [8, 1001]


def test_qt_snippet(toolkits, tmp_path):
    checks, closed = driven(run_python(on_a_free_port(example("python", "from PyQt5")), tmp_path, [toolkits]))
    assert checks == {"on GUI thread": True, "checked": None}
    assert closed == [8, 1001]


def test_embedding_snippet(tmp_path):
    output = run_python(example("python", "with WebsocketLiaison("), tmp_path)
    listening = re.fullmatch(r"listening on \('127\.0\.0\.1', (\d+)\)\n", output)
    assert listening and int(listening.group(1)) > 0, output


def test_security_snippet(tmp_path):
    checks = """
assert server.token == "s3cret" and server.max_clients == 16 and server.handshake_timeout == 10.0
assert server.allow_origin == ("https://app.example",) and server.server_address[0] == "127.0.0.1"
server.stop()
print("ok")
"""
    env = dict(os.environ, LIAISON_TOKEN="s3cret")
    assert run_python(example("python", "LIAISON_TOKEN") + checks, tmp_path, env=env) == "ok\n"


def test_token_snippet_in_node_ends(run_node):
    assert run_node(example("javascript", "randomBytes")) == "2\nPolicyError\n"


def test_a_companions_own_command_snippet(tmp_path):
    assert run_python(example("python", 'companion.commands["greet"] = greet'), tmp_path) == "hello world!\n"


def test_cancelled_snippet(tmp_path):
    assert run_python(example("python", "def record(frames)"), tmp_path) == "5\n"


def test_status_snippet_runs_as_printed_and_as_a_command(tmp_path):
    snippet = example("python", "def long_job(liaison, steps)")
    assert run_python(snippet, tmp_path) == ""
    # As its docstring says: run mymodule:long_job $liaison 100, here with 4 steps.
    (tmp_path / "mymodule.py").write_text(snippet)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    with spawn(transport="stdio", cwd=str(tmp_path), env=env, timeout=20) as client:
        status = []
        client.on("status", lambda message: status.append(message["done"]))
        assert client.run("mymodule:long_job", "$liaison", 4) == "done"
    assert status == [0, 0.25, 0.5, 0.75]


# Serves README's shielded() snippet, saved as the module `saving`, and calls it as a client would.
SHIELDED_CHECK = """
import os
from liaison import Companion
from liaison.client import connect
from liaison.websocket import WebsocketLiaison

with WebsocketLiaison("127.0.0.1", 0, Companion()) as server:
    server.serve_in_thread()
    with connect("127.0.0.1:{}".format(server.port)) as client:
        client.run("saving:save", "all of it", "saved.txt")
print(open("saved.txt").read(), os.path.exists("saved.txt.tmp"))
"""


def test_shielded_snippet(tmp_path):
    (tmp_path / "saving.py").write_text(example("python", "liaison.shielded()"))
    assert run_python(SHIELDED_CHECK, tmp_path, [str(tmp_path)]) == "all of it False\n"
