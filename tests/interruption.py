"""What the tests of issue 20 (cancels and deadlines that never wedge the process) share: served code
that cancels land in, a command-line server whose stderr never fills a pipe, and its threads and memory."""
import json
import os
import select
import subprocess
import sys
import tempfile
import time

from liaison.constants import START_MARKER, STOP_MARKER

#: Pushes 6,000-byte messages to the caller for ever: each is more than one write (PIPE_BUF is 4096), and
#: a cancel lands in the middle of ``liaison.send`` more often than not.
PUSHING = "\n".join([
    "import itertools",
    "for n in itertools.count():",
    "    liaison.send({'n': n, 'pad': 'p' * 6000}, client=liaison.current_client())",
])

#: As PUSHING, with 70,000-byte messages: a frame that large is written as a header, then its payload.
LARGE_PUSHING = PUSHING.replace("'p' * 6000", "'b' * 70000")

#: Says it started, then ignores interruptions for ever: only the forced exit ends it. The push is inside
#: the ``try`` too: a cancel asked for while it is being sent is raised as ``liaison.send`` returns.
STUBBORN = "\n".join([
    "import time",
    "started = False",
    "while True:",
    "    try:",
    "        if not started:",
    "            started = True",
    "            liaison.send({'tag': 'started'}, client=liaison.current_client())",
    "        time.sleep(1)",
    "    except BaseException:",
    "        pass",
])


def run_code(code, ident, **envelope):
    """The request (a dict) that runs *code* with ``liaison`` (the server) in its globals."""
    message = {"command": {"command": "run", "args": ["builtins:exec", code, {"liaison": "$liaison"}]}, "id": ident}
    message.update(envelope)
    return message


def line(command, *args, ident=None, **kwargs):
    """One request as a line, for the stdio transport."""
    message = {"command": {"command": command, "args": list(args), "kwargs": kwargs}, "id": ident}
    return json.dumps(message).encode() + b"\n"


def is_push(message, pad):
    """Whether *message* is one of PUSHING's or LARGE_PUSHING's messages (padded with *pad*), whole."""
    return isinstance(message, dict) and set(message) == {"n", "pad"} and message["pad"] == pad


class WebsocketCLI:
    """``python -m liaison.websocket 127.0.0.1:0`` in a subprocess, started and listening.

    Its stderr goes to a file, so that what served code logs can never fill a pipe and stall it.
    """

    def __init__(self, *args):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"] + list(args),
                                        stdout=subprocess.PIPE, stderr=self.stderr)
        self.pid = self.process.pid
        self.output = ""  # stdout after the START marker
        chunk = self.read_chunk()
        assert chunk.startswith(START_MARKER + "@"), (chunk, self.stderr_text())
        self.port = int(chunk.rpartition(":")[2])
        self.output = ""

    def read_chunk(self, timeout=20):
        """The next chunk of stdout ('' at its end)."""
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, "nothing on stdout within {} s; stderr: {}".format(timeout, self.stderr_text()[-2000:])
        chunk = os.read(self.process.stdout.fileno(), 65536).decode()
        self.output += chunk
        return chunk

    def wait_stopped(self, timeout):
        """Read stdout to its end, which must be the STOP marker, and wait for the exit, all within *timeout*
        seconds; return the exit code."""
        deadline = time.monotonic() + timeout
        while self.read_chunk(max(0.0, deadline - time.monotonic())):
            pass
        assert self.output.endswith("{}@127.0.0.1:{}".format(STOP_MARKER, self.port)), self.output[-200:]
        return self.process.wait(max(0.0, deadline - time.monotonic()))

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.stderr.close()


def rss_kib(pid="self"):
    """The resident memory of process *pid*, in KiB."""
    with open("/proc/{}/status".format(pid)) as status:
        return next(int(entry.split()[1]) for entry in status if entry.startswith("VmRSS:"))


def thread_count(pid="self"):
    """The threads of process *pid* now."""
    return len(os.listdir("/proc/{}/task".format(pid)))
