"""Served code's stdout under ``python -m liaison.websocket``: the process's stdout, with the markers
around it, whole.

On POSIX, file descriptor 1 becomes a pipe that a thread of liaison's relays to
the real stdout. Everything that writes to stdout (``print``, C code, a
subprocess that inherits it) then passes through liaison, which writes the
markers itself, so nothing can cut into them, and knows whether the last output
ended its line, so the STOP marker can start one. Elsewhere (Windows, where a
pipe cannot be polled) stdout is left as it is, as liaison-py leaves it.
"""
import os
import select
import sys
import threading
import time

from .logs import logger

__all__ = ["relay_stdout", "StdoutRelay", "DRAIN_TIME", "MARKER_TIME"]

#: Seconds that output written before the stop gets to reach stdout ahead of the STOP marker.
DRAIN_TIME = 0.25

#: Seconds more the STOP marker gets; a forced exit 4.5 s after the stop was asked stays within 5 s.
MARKER_TIME = 0.1

#: Bytes per write: a pipe that polls writable takes this many at once (POSIX's PIPE_BUF, at least 512).
_ATOMIC_WRITE = getattr(select, "PIPE_BUF", 512)

#: Bytes read from the pipe at a time.
_READ_SIZE = 1 << 16


def relay_stdout():
    """Served code's stdout for a process liaison owns: a :class:`StdoutRelay` where file descriptors
    can be polled, else stdout as it is."""
    return StdoutRelay() if hasattr(select, "poll") else _SharedStdout()


class StdoutRelay:
    """File descriptor 1 and ``sys.stdout`` as a pipe that a thread copies to the real stdout, in order.

    ``sys.stdout`` becomes line-buffered, so that each line shows as it is
    printed. :meth:`start` writes the START marker and starts the relay;
    :meth:`finish` writes the STOP marker after the output written so far and
    ends the relay. Waiting for room on stdout has no deadline while serving
    (a frontend that reads nothing holds up whoever prints, as a plain stdout
    would) and one from the moment :meth:`finish` is called.
    """

    def __init__(self):
        sys.stdout.flush()
        self._stdout = os.dup(1)
        self._pipe, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.close(write_end)
        os.set_blocking(self._pipe, False)
        self._wake, self._waker = os.pipe()
        os.set_blocking(self._wake, False)
        os.set_blocking(self._waker, False)
        self._room = select.poll()  # stdout has room, or finish() woke the relay
        self._room.register(self._stdout, select.POLLOUT)
        self._room.register(self._wake, select.POLLIN)
        self.stream = open(1, "w", buffering=1, encoding=sys.stdout.encoding, errors=sys.stdout.errors,
                           closefd=False)
        sys.stdout = self.stream
        # Used by the relay thread only (by the caller of start() before it runs).
        self._pipe_open = True
        self._open_line = False  # the output relayed since the last marker ends inside a line
        self._stdout_gone = False  # stdout takes nothing more: closed, or full past the deadline
        # Guards _deadline and _last, which finish() hands the relay thread.
        self._lock = threading.Lock()
        self._deadline = None
        self._last = None
        self._stopping = threading.Event()
        self._flushed = threading.Event()
        self._finished = threading.Event()

    def start(self, first):
        """Write *first* (the START marker) whole after what was written to file descriptor 1 before, then relay
        from a thread."""
        self._relay_available()
        self._send(first.encode("utf-8"))
        self._open_line = False
        threading.Thread(target=self._run, name="liaison-stdout", daemon=True).start()
        threading.Thread(target=self._flush_when_stopping, name="liaison-stdout-flush", daemon=True).start()

    def finish(self, last, timeout=None):
        """Write *last* (the STOP marker) on a line of its own after the output written so far, and relay
        nothing more.

        Python's buffered stdout is flushed first. The output gets ``DRAIN_TIME``
        seconds and the marker ``MARKER_TIME`` more (both within *timeout*, if
        given): a subprocess that keeps printing, or a frontend that reads
        nothing, cannot hold up stopping.
        """
        drain = DRAIN_TIME if timeout is None else min(DRAIN_TIME, timeout * DRAIN_TIME / (DRAIN_TIME + MARKER_TIME))
        deadline = time.monotonic() + drain
        with self._lock:
            self._deadline = deadline
        self._wake_relay()
        self._stopping.set()
        self._flushed.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._last = last.encode("utf-8")
        self._wake_relay()
        self._finished.wait(max(0.0, deadline + MARKER_TIME - time.monotonic()))

    def _flush_when_stopping(self):
        """Once :meth:`finish` is called, flush what Python holds for file descriptor 1: on a thread of its own,
        since a stream of served code's may block, started beforehand, since no thread may start then."""
        self._stopping.wait()
        for stream in {id(stream): stream for stream in (sys.stdout, sys.__stdout__, self.stream)}.values():
            try:
                stream.flush()
            except Exception:  # served code's stream, closed or broken: what it held cannot be shown
                pass
        self._flushed.set()

    def _wake_relay(self):
        """Make the relay thread look at what finish() handed it, whatever it waits for."""
        try:
            os.write(self._waker, b"!")
        except BlockingIOError:  # the relay has wake-ups waiting already
            pass

    def _run(self):
        """Relay until :meth:`finish` hands over the last marker, write it, then discard what comes."""
        poller = select.poll()
        poller.register(self._pipe, select.POLLIN)
        poller.register(self._wake, select.POLLIN)
        polling_pipe = True
        while True:
            # A wake-up is only taken before this check comes round again, so a handed-over marker is seen.
            with self._lock:
                last = self._last
            if last is not None:
                break
            if self._relay_one():
                continue
            if polling_pipe and not self._pipe_open:  # ended: it would poll ready for ever
                poller.unregister(self._pipe)
                polling_pipe = False
            poller.poll()
            self._clear_wake()
        self._relay_available()
        self._end(last)
        poller.unregister(self._wake)
        while self._pipe_open:
            poller.poll()
            self._read()

    def _relay_one(self):
        """Relay one read of the pipe; return False if it held nothing."""
        chunk = self._read()
        if not chunk:
            return False
        if self._past_deadline():
            return True  # stopping, and the output's time is up: dropped, so that nobody waits on the pipe
        if self._send(chunk):
            self._open_line = not chunk.endswith(b"\n")
        return True

    def _relay_available(self):
        """Relay what the pipe holds, until it is empty or the output's time is up."""
        while not self._past_deadline() and self._relay_one():
            pass

    def _read(self):
        """The next chunk from the pipe: b"" if it holds nothing now or has ended (nobody holds file
        descriptor 1 any more)."""
        if not self._pipe_open:
            return b""
        try:
            chunk = os.read(self._pipe, _READ_SIZE)
        except BlockingIOError:
            return b""
        self._pipe_open = bool(chunk)
        return chunk

    def _end(self, last):
        """Write the STOP marker, a newline first if the output left a line open; then point file descriptor 1
        at the null device, so that a late write or the interpreter's last flush cannot block."""
        if not self._open_line or self._send(b"\n", MARKER_TIME):
            self._send(last, MARKER_TIME)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
        self._finished.set()

    def _send(self, data, grace=0.0):
        """Write *data* whole to stdout, waiting for room (once stopping, until the deadline plus *grace*);
        return whether it went."""
        view = memoryview(data)
        while view and not self._stdout_gone:
            if not self._wait_writable(grace):
                logger.warning("stdout took nothing while stopping: the rest of the output and the stop "
                               "marker are dropped")
                self._stdout_gone = True
                break
            try:
                view = view[os.write(self._stdout, view[:_ATOMIC_WRITE]):]
            except BlockingIOError:  # the frontend made its end non-blocking: wait again
                continue
            except OSError:  # nobody reads stdout any more: there is nobody left to tell
                self._stdout_gone = True
        return not view

    def _wait_writable(self, grace):
        """Wait until stdout has room for a write of ``_ATOMIC_WRITE`` bytes; False once stopping and past the
        deadline plus *grace*."""
        while True:
            with self._lock:
                deadline = self._deadline
            timeout = None if deadline is None else max(0.0, deadline + grace - time.monotonic()) * 1000
            events = dict(self._room.poll(timeout))
            if self._stdout in events:
                return True
            if not events:
                return False
            self._clear_wake()  # finish() set a deadline: wait again, by it

    def _past_deadline(self):
        """Whether stopping has begun and the time given to the output is up."""
        with self._lock:
            deadline = self._deadline
        return deadline is not None and time.monotonic() > deadline

    def _clear_wake(self):
        """Take the wake-ups waiting, so that the next wait waits."""
        try:
            while os.read(self._wake, 64):
                pass
        except BlockingIOError:
            pass


class _SharedStdout:
    """The markers on stdout as it is, which served code shares (Windows): after flushing it, each one
    flushed write."""

    def start(self, first):
        _write_flushed(first)

    def finish(self, last, timeout=None):
        _write_flushed(last)


def _write_flushed(text):
    """Write *text* to ``sys.stdout`` after what it holds, flushed; a reader that is gone is not an error."""
    try:
        sys.stdout.flush()
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        pass
