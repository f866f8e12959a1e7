"""The stdio transport: one client, the parent process, one JSON message per line on stdin and stdout.

``python -m liaison.stdio`` writes ``LIAISON:CONNECTED@stdio`` as its first
line, then a line per reply or pushed message, and ``LIAISON:DISCONNECTED@stdio``
as its last. There is no port to pick and nothing another program can connect
to. End of input stops it once the requests already sent are answered.
"""
import logging
import os
import select
import sys
import threading
import time

from . import cli, protocol
from .server import DEFAULT_MAX_SIZE, SEND_TIMEOUT, Liaison

__all__ = ["StdioLiaison", "PipeConnection", "ADDRESS"]

logger = logging.getLogger("liaison")

#: What the markers show as the address.
ADDRESS = "stdio"


class PipeConnection:
    """The write side of the parent's pipe: whole lines, each by a deadline (where the platform allows).

    Also a binary stream (``write``, ``flush``), so the markers go through it.
    """

    name = ADDRESS

    def __init__(self, stream, on_close):
        self.stream = stream
        self.fd = stream.fileno()
        self.on_close = on_close
        self.closed = False
        # Keeps lines whole on the pipe and orders closing after the last line. Acquired by each
        # send's deadline; taken after the Companion and session locks.
        self._lock = threading.Lock()
        self._deadlines = hasattr(select, "poll")
        if self._deadlines:
            os.set_blocking(self.fd, False)

    def send(self, data, timeout):
        """Write one message (UTF-8 JSON) as a line within *timeout* seconds; return whether it went."""
        line = data.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"  # only whitespace can hold them
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            self._give_up("no line could be written within {} s".format(timeout))
            return False
        try:
            if self.closed:
                return False
            return self._write(line, deadline)
        finally:
            self._lock.release()

    def write(self, data):
        """Write *data* (a marker) whole, as a stream would."""
        with self._lock:
            self._write(data, time.monotonic() + SEND_TIMEOUT)

    def flush(self):
        """Nothing to flush: every write is whole."""

    def close(self, code, reason, timeout):
        """The conversation is over (the server stops or was told to): no line follows."""
        with self._lock:
            self.closed = True
        self.on_close()

    def _write(self, data, deadline):
        """Write all of *data* by *deadline*; on a missed deadline or a closed pipe, give up the client."""
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    if not self._wait_writable(deadline):
                        self._give_up("the parent took no output for {:.0f} s".format(SEND_TIMEOUT))
                        return False
            return True
        except OSError as problem:
            self._give_up("cannot write to stdout: {}".format(problem))
            return False

    def _wait_writable(self, deadline):
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        remaining = deadline - time.monotonic()
        return remaining > 0 and bool(poller.poll(remaining * 1000))

    def _give_up(self, why):
        if not self.closed:
            logger.warning("stopping: %s", why)
        self.closed = True
        self.on_close()


class StdioLiaison(Liaison):
    """A server for the one client at the other end of a pair of pipes.

    Reads lines from *stdin* (a binary stream) and writes them to *stdout* (a
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
        self.session = None
        self._stopped = threading.Event()
        self._background = None

    def serve_forever(self):
        """Answer the parent's lines until end of input (after the answers) or :meth:`shutdown`.

        Lines are read on a thread of their own, which a blocked read may keep
        until the process exits; serving ends when told, whatever stdin does.
        """
        self.session = self.open_session(self.connection, ADDRESS)
        threading.Thread(target=self._read, name="liaison-stdin", daemon=True).start()
        self._stopped.wait()
        self.close_session(self.session)

    def _read(self):
        """Hand each line of stdin to the session; at end of input, let it finish."""
        while not self._stopped.is_set():
            line = self.stdin.readline(self.max_size + 1)
            if not line:
                self.session.finish()
                return
            if len(line) > self.max_size and not line.endswith(b"\n"):
                self._refuse_long_line()
                continue
            line = line.strip()
            if line:
                self.session.receive(line)
            line = None

    def serve_in_thread(self):
        """Serve on a new daemon thread and return that thread."""
        self._background = threading.Thread(target=self.serve_forever, name="liaison-stdio", daemon=True)
        self._background.start()
        return self._background

    def shutdown(self):
        """Make :meth:`serve_forever` return; from inside a command, after its reply."""
        caller = self.current_client()
        if caller is not None:
            caller.close_after_reply()
            return
        self._stopped.set()

    def stop(self):
        """Stop serving: queued requests are dropped and no line follows. Idempotent."""
        self.shutdown()
        self._stopped.set()
        self.cancel_pending()
        if self.session is not None:
            self.session.going_away(self.send_timeout)

    def _refuse_long_line(self):
        """Answer a line over the size limit with an error, and skip the rest of it."""
        while True:
            rest = self.stdin.readline(self.max_size)
            if not rest or rest.endswith(b"\n"):
                break
        self.session.take(protocol.ProtocolError("message over the limit of {} bytes; send smaller messages or "
                                                 "start the server with a larger --max-size".format(self.max_size)))


def main(argv=None):
    """Parse the command line, serve the parent over stdin and stdout, and return the exit code."""
    parser = cli.argument_parser("python -m liaison.stdio", "Serve a Companion to the parent process over stdin "
                                 "and stdout, one JSON message per line.")
    options = parser.parse_args(argv)
    cli.configure_logging(options.log_level)
    channel = cli.claim_stdout()
    server = StdioLiaison(sys.stdin.buffer, channel, max_size=options.max_size, send_timeout=options.send_timeout)
    if options.allow_import:
        server.companion.resolver.import_policy = cli.ImportPolicy(options.allow_import)
    return cli.serve(server, ADDRESS, watch_parent=not options.no_parent_watch, channel=server.connection,
                     end="\n")


if __name__ == "__main__":
    sys.exit(main())
