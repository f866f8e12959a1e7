"""The stdio transport: one client, the parent process, one JSON message per line on stdin and stdout.

``python -m liaison.stdio`` writes ``LIAISON:CONNECTED@stdio`` as its first
line, then a line per reply or pushed message, and ``LIAISON:DISCONNECTED@stdio``
as its last. There is no port to pick and nothing another program can connect
to. End of input stops it once the requests already sent are answered.
"""
import os
import select
import sys
import threading
import time

from . import cli, protocol
from .logs import logger
from .policy import ImportPolicy
from .server import DEFAULT_MAX_SIZE, SEND_TIMEOUT, Liaison

__all__ = ["StdioLiaison", "PipeConnection", "ADDRESS"]

#: Bytes per write: a pipe that polls writable takes this many at once (POSIX's PIPE_BUF, at least 512).
_ATOMIC_WRITE = getattr(select, "PIPE_BUF", 512)

#: What the markers show as the address.
ADDRESS = "stdio"

#: Bytes read from stdin at a time.
READ_SIZE = 1 << 16

#: Seconds a marker may wait for its turn and for the pipe to take it.
MARKER_TIMEOUT = 1.0


class PipeConnection:
    """The write side of the parent's pipe: whole lines, each by a deadline (where the platform allows).

    Also a binary stream (``write``, ``flush``), so the markers go through it.
    Methods for the session: ``send``, ``send_now``, ``close``,
    ``close_for_error``, ``abort`` (see :mod:`liaison.session`).
    """

    name = ADDRESS
    _unreachable_by_targets = True

    def __init__(self, stream, on_close):
        self.stream = stream
        self.fd = stream.fileno()
        self.on_close = on_close
        self.closed = False
        self.line_open = False  # a line was begun and not finished
        # Keeps lines whole on the pipe and orders closing after the last line. Acquired with a deadline
        # or without waiting; a line begun by a thread that may not wait is finished, and the lock
        # released, by the session's sender thread. Taken after the Companion and session locks.
        self._lock = threading.Lock()

    def send(self, data, timeout):
        """Write one message (UTF-8 JSON: bytes, or a list of bytes parts) as a line within *timeout*
        seconds; return whether it went."""
        return _PipeRest(self, _line(data), False)(timeout)

    def send_now(self, data):
        """Write one message as far as the pipe takes it without waiting; return None once it went (or
        cannot go), else the rest (see :mod:`liaison.session`), which holds the lock once begun."""
        line = _line(data)
        if not self._lock.acquire(blocking=False):
            return _PipeRest(self, line, False)
        if self.closed:
            self._lock.release()
            return None
        rest = self._write(memoryview(line), None)
        if not rest:
            self._lock.release()
            return None
        return _PipeRest(self, rest, True)

    def write(self, data, timeout=None):
        """Write *data* (a marker) whole, as a stream would, within *timeout* seconds (default
        ``MARKER_TIMEOUT``).

        If a line's writer holds the lock that long (stuck on a parent that reads
        nothing, as the process is about to exit), the marker goes anyway, after
        a newline that ends the line cut short, and nothing more is written.
        """
        timeout = MARKER_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        locked = self._lock.acquire(timeout=timeout)
        try:
            if not locked:
                self.closed = True  # the stuck writer stops at its next write
            prefix = b"\n" if self.line_open else b""
            self._write(memoryview(prefix + data), deadline, timeout, marker=True)
        finally:
            if locked:
                self._lock.release()

    def flush(self):
        """Nothing to flush: every write is whole."""

    def close(self, code, reason, timeout):
        """The conversation is over (the server stops or was told to): no line follows."""
        locked = self._lock.acquire(timeout=max(0.0, timeout))
        self.closed = True
        if locked:
            self._lock.release()
        self.on_close()

    def close_for_error(self, code, reason, timeout):
        """As :meth:`close`: the parent learns why from the error replies already sent."""
        self.close(code, reason, timeout)

    def abort(self, why):
        """Stop serving now: the parent does not take output (or the pipe is broken)."""
        if not self.closed:
            logger.warning("stopping: %s", why)
        self.closed = True
        self.on_close()

    def _write(self, view, deadline, timeout=None, marker=False):
        """Write *view* by *deadline* (None: only what goes without waiting); return what is left
        (empty once written), or None once the parent was given up. The lock is held, or a *marker* is
        written without it."""
        try:
            while view:
                if self.closed and not marker:
                    return None
                if not self._wait_writable(deadline):
                    if deadline is None:
                        return view
                    self.abort("the parent read no output for {} s".format(timeout))
                    return None
                written = os.write(self.fd, view[:_ATOMIC_WRITE])
                view = view[written:]
                self.line_open = bool(view)
            return view
        except OSError as problem:
            self.abort("cannot write to stdout: {}".format(problem))
            return None

    def _wait_writable(self, deadline):
        """Wait until the pipe has room for a write of ``_ATOMIC_WRITE`` bytes, which then cannot block.

        The pipe stays blocking: it may be the parent's stderr too (``2>&1``).
        """
        if not hasattr(select, "poll"):
            return True  # Windows cannot wait on a pipe: writes there have no deadline
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        remaining = 0.0 if deadline is None else deadline - time.monotonic()
        return remaining >= 0 and bool(poller.poll(remaining * 1000))


def _line(data):
    """One message (bytes, or a list of bytes parts) as a line: its JSON text with no line break, then one."""
    parts = data if isinstance(data, list) else [data]
    # Only whitespace in the JSON text can hold a line break: it may become a space.
    return b"".join([part.replace(b"\n", b" ").replace(b"\r", b" ") for part in parts] + [b"\n"])


class _PipeRest:
    """A line, or the rest of one, still to write: call it with a timeout."""

    __slots__ = ("connection", "view", "locked")

    def __init__(self, connection, data, locked):
        self.connection = connection
        self.view = memoryview(data)
        self.locked = locked  # the lock is held for it (the line has begun)

    def __call__(self, timeout):
        """Write it within *timeout* seconds (stopping the server if the parent takes no output); return
        whether it went."""
        connection = self.connection
        deadline = time.monotonic() + timeout
        if not self.locked and not connection._lock.acquire(timeout=max(0.0, timeout)):
            connection.abort("no line could be written within {} s".format(timeout))
            return False
        self.locked = False
        try:
            if connection.closed:
                return False
            return connection._write(self.view, deadline, timeout) is not None
        finally:
            connection._lock.release()


class StdioLiaison(Liaison):
    """A server for the one client at the other end of a pair of pipes.

    Reads lines from *stdin* (a file with a descriptor) and writes them to *stdout* (a
    binary stream, which :func:`liaison.cli.claim_stdout` keeps for liaison
    alone). A line over *max_size* bytes gets an error reply and is skipped.

    Methods for the caller: :meth:`serve_forever`, :meth:`serve_in_thread`,
    :meth:`shutdown`, :meth:`stop`, :meth:`send`, :meth:`current_client`.
    """

    server_address = (ADDRESS, None)

    def __init__(self, stdin, stdout, companion=None, dispatcher=None, max_size=DEFAULT_MAX_SIZE,
                 send_timeout=SEND_TIMEOUT):
        Liaison.__init__(self, companion, dispatcher, send_timeout)
        self.stdin = stdin
        self.max_size = max_size
        self.connection = PipeConnection(stdout, self.shutdown)
        self._session = None
        self._stopped = threading.Event()

    def serve_forever(self):
        """Answer the parent's lines until end of input (after the answers) or :meth:`shutdown`.

        Lines are read on a thread of their own, which a blocked read may keep
        until the process exits; serving ends when told, whatever stdin does.
        """
        self._session = self.open_session(self.connection, ADDRESS)
        threading.Thread(target=self._read, name="liaison-stdin", daemon=True).start()
        self._stopped.wait()
        self.close_session(self._session)

    def _read(self):
        """Hand each line of stdin to the session; at end of input, let it finish.

        Reads the descriptor, not the stream: a thread blocked in a buffered read
        holds the stream's lock, and the interpreter aborts at exit without it.
        """
        parts, size = [], 0  # the line so far (kept up to the limit only) and its length
        while not self._stopped.is_set():
            chunk = os.read(self.stdin.fileno(), READ_SIZE)
            if not chunk:
                self._take_line(parts, size)
                self._session.finish()
                return
            *complete, rest = chunk.split(b"\n")
            for piece in complete:
                parts.append(piece)
                self._take_line(parts, size + len(piece))
                size = 0
            size += len(rest)
            if size <= self.max_size:
                parts.append(rest)

    def _take_line(self, parts, size):
        """Hand the session the line in *parts* (emptied), or an error if its *size* is over the limit."""
        line = b"".join(parts).strip() if size <= self.max_size else None
        parts.clear()
        if line is None:
            self._session.take(protocol.ProtocolError("message over the limit of {} bytes; send smaller messages or "
                                                     "start the server with a larger --max-size".format(self.max_size)))
        elif line:
            self._session.receive(line)

    def shutdown(self):
        """Make :meth:`serve_forever` return; from inside a command, after its reply."""
        caller = self._caller()
        if caller is not None:
            caller.close_after_reply()
            return
        self._stopped.set()

    def stop(self):
        """Stop serving: queued requests are dropped and no line follows (inside a command: after its reply)."""
        self.shutdown()
        if self._caller() is None:  # else closing the connection after the reply ends serving
            self.cancel_pending()
            self.deadlines.stop()
            if self._session is not None:
                self._session.going_away(MARKER_TIMEOUT)


def main(argv=None):
    """Parse the command line, serve the parent over stdin and stdout, and return the exit code."""
    parser = cli.argument_parser("python -m liaison.stdio", "Serve a Companion to the parent process over stdin "
                                 "and stdout, one JSON message per line.")
    options = parser.parse_args(argv)
    cli.configure_logging(options.log_level)
    server = StdioLiaison(cli.claim_stdin(), cli.claim_stdout(), max_size=options.max_size,
                          send_timeout=options.send_timeout)
    if options.allow_import:
        server.companion.resolver.import_policy = ImportPolicy(options.allow_import)
    return cli.serve(server, ADDRESS, watch_parent=not options.no_parent_watch, channel=server.connection,
                     end="\n")


if __name__ == "__main__":
    sys.exit(main())
