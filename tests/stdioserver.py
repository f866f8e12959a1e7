"""A ``python -m liaison.stdio`` subprocess driven as a parent process drives it, for the tests (the
``stdio`` fixture of conftest.py starts them): requests written to its stdin, its lines read from its stdout."""
import itertools
import json
import os
import select
import subprocess
import sys
import tempfile

import message_schema
from conftest import reap

from liaison.constants import START_MARKER, STOP_MARKER

START_LINE = (START_MARKER + "@stdio\n").encode()
STOP_LINE = (STOP_MARKER + "@stdio\n").encode()

_ids = itertools.count()


class Lines:
    """The lines a stdio server writes, read as they come; every message among them is checked against the schema."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = bytearray()

    def read_line(self, timeout=20):
        """The next line, with its newline; at end of file what is left (b"" if nothing)."""
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            assert ready, "no whole line within {} s; so far: {!r}".format(timeout, bytes(self.buffer[:200]))
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                rest, self.buffer = bytes(self.buffer), bytearray()
                return rest
            self.buffer += chunk
        end = self.buffer.index(b"\n") + 1
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        if line not in (START_LINE, STOP_LINE):
            message_schema.check_received(line)
        return line


class StdioServer:
    """``python -m liaison.stdio`` in a subprocess: requests written to its stdin, lines read from its stdout.

    Its stderr goes to a file, so that nothing it logs or prints can fill a pipe and stall it.
    """

    def __init__(self, *args):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-m", "liaison.stdio"] + list(args),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.lines = Lines(self.process.stdout.fileno())
        self.started = self.lines.read_line()

    def write(self, data):
        """Write raw bytes to the server's stdin."""
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, command, *args, **kwargs):
        """Write one request line; return the request as sent (its reply's ``evt``)."""
        request = {"command": {"command": command, "args": list(args), "kwargs": kwargs}, "id": next(_ids)}
        self.write(json.dumps(request).encode() + b"\n")
        return request

    def read_line(self, timeout=20):
        return self.lines.read_line(timeout)

    def message(self, timeout=20):
        """The next line, parsed; it must be one whole line of JSON."""
        line = self.read_line(timeout)
        assert line.endswith(b"\n") and line.count(b"\n") == 1, line[:200]
        return json.loads(line.decode("utf-8"))

    def reply_to(self, request):
        """The next message, which must be the reply to *request*."""
        reply = self.message()
        assert reply.get("evt") == request and reply["tag"] in ("response", "error"), reply
        return reply

    def call(self, command, *args, **kwargs):
        """Send one command and return its response, failing the test on an error reply."""
        reply = self.reply_to(self.send(command, *args, **kwargs))
        assert reply["tag"] == "response", reply
        return reply["response"]

    def error(self, command, *args, **kwargs):
        """Send one command that must fail; return its error reply."""
        reply = self.reply_to(self.send(command, *args, **kwargs))
        assert reply["tag"] == "error", reply
        return reply

    def hello(self):
        """Ask for ``interleave``: pushed messages then arrive as they are made, before the reply."""
        assert self.call("hello", features=["interleave"])["features"] == ["interleave"]

    def close_stdin(self):
        self.process.stdin.close()

    def wait_stopped(self, timeout=20):
        """Read up to the STOP marker, which must be the last line; return the exit code."""
        assert self.read_line(timeout) == STOP_LINE
        assert self.read_line(timeout) == b""
        return self.process.wait(timeout)

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def kill(self):
        reap(self.process)
        self.stderr.close()
