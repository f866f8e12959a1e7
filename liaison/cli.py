"""What every ``python -m liaison.<transport>`` command shares: its common options and their
one-line errors, logging, the lifecycle markers, commands on the main thread, and stopping on
signals.

Logs go to stderr. Over a websocket, served code's output is the process's
stdout, between the markers (see :mod:`liaison.relay`); over stdio, stdin and
stdout are the channel, kept for liaison alone, and served code's output goes
to stderr.
"""
import argparse
import math
import os
import sys
import threading
import time

from . import __version__, lifecycle, logs
from .constants import START_MARKER, STOP_MARKER
from .dispatch import MainThreadDispatcher
from .logs import logger
from .policy import ImportPolicy
from .relay import relay_stdout
from .server import DEFAULT_MAX_SIZE, SEND_TIMEOUT

__all__ = ["parse_address", "ArgumentParser", "argument_parser", "format_address", "write_marker", "claim_stdout",
           "claim_stdin", "serve"]

#: Seconds after being told to stop that the process exits even if a command will not end.
FORCED_EXIT_AFTER = 4.5

#: Seconds the STOP marker gets on that forced exit.
FORCED_MARKER_TIME = 0.3


def parse_address(text):
    """Split ``HOST:PORT``, ``[IPv6]:PORT`` or a pasted ``ws://HOST:PORT`` into host and port, for argparse.

    Each kind of mistake gets its own one-line message saying what to give instead.
    """
    scheme, separator, address = text.partition("://")
    if separator:
        _check_scheme(text, scheme.lower())
        address = address[:-1] if address.endswith("/") else address
        if any(mark in address for mark in "/?#"):
            raise argparse.ArgumentTypeError(
                "{!r}: give the address alone, without a path or query; for example ws://localhost:8001".format(text))
    else:
        address = text
    host, colon, port = address.rpartition(":")
    if not colon or not port or address.endswith("]"):
        raise argparse.ArgumentTypeError(
            "{!r} is not an address: it has no port; give HOST:PORT, for example localhost:8001 "
            "(port 0 takes a free port)".format(text))
    if not host:
        raise argparse.ArgumentTypeError(
            "{!r} is not an address: it has no host; give HOST:PORT, for example localhost:{}".format(text, port))
    if any(digit not in "0123456789" for digit in port):
        raise argparse.ArgumentTypeError(
            "{!r} in {!r} is not a port number; give HOST:PORT with a PORT from 0 to 65535".format(port, text))
    if int(port) > 65535:
        raise argparse.ArgumentTypeError(
            "port {} in {!r} is out of range: ports go from 0 to 65535".format(port, text))
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], int(port)
    if "[" in host or "]" in host:
        raise argparse.ArgumentTypeError(
            "{!r}: put the whole IPv6 address in brackets, as in [::1]:8001".format(text))
    if ":" in host:
        raise argparse.ArgumentTypeError("put an IPv6 address in brackets: [{}]:{}".format(host, port))
    return host, int(port)


def _check_scheme(text, scheme):
    """Refuse a pasted URL that is not ``ws://``, saying why."""
    if scheme == "wss":
        raise argparse.ArgumentTypeError(
            "{!r}: liaison serves plain ws://, not wss:// (TLS); give ws://HOST:PORT or HOST:PORT, "
            "and put a TLS proxy in front if you need one".format(text))
    if scheme != "ws":
        raise argparse.ArgumentTypeError(
            "{!r}: a websocket server takes ws:// addresses, not {}://; give HOST:PORT, "
            "for example localhost:8001".format(text, scheme))


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, without the usage block, and exit code 2."""

    def error(self, message):
        self.exit(2, "{}: error: {}; see --help\n".format(self.prog, message))


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with defaults, as wide as the terminal, found without importing ``shutil``: argparse
    makes a formatter for every option it is given, and shutil (with bz2 and lzma) costs start-up time."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                width = int(os.environ["COLUMNS"])
            except (KeyError, ValueError):
                try:
                    width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    width = 80
            width -= 2
        super().__init__(prog, indent_increment, max_help_position, width)


def argument_parser(prog, description, default_address=None):
    """The options every transport's command line accepts; an address only when *default_address* is given."""
    parser = ArgumentParser(prog=prog, description=description, formatter_class=_HelpFormatter)
    if default_address is not None:
        parser.add_argument("address", nargs="?", default=default_address, type=parse_address,
                            help="HOST:PORT to listen on; port 0 takes a free port")
    parser.add_argument("--allow-import", action="append", type=_module_prefix, metavar="PREFIX",
                        help="let targets import only modules under PREFIX (repeatable), and refuse names "
                             "starting with '_'; a guard-rail, not a sandbox")
    parser.add_argument("--max-size", type=positive_int, default=DEFAULT_MAX_SIZE, metavar="BYTES",
                        help="largest message a client may send; a larger one is refused")
    parser.add_argument("--send-timeout", type=seconds, default=SEND_TIMEOUT, metavar="SECONDS",
                        help="drop a client that has not taken a whole message within this time")
    parser.add_argument("--log-level", default="WARNING", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        help="how much to log on stderr (any case)")
    parser.add_argument("--no-parent-watch", action="store_true",
                        help="keep serving when the process that started this one dies")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return parser


def _module_prefix(text):
    """A dotted module name, for argparse."""
    try:
        ImportPolicy([text])
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem))
    return text


def positive_int(text):
    """A positive integer, for argparse."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("{!r} is not a positive whole number".format(text))
    return int(text)


def seconds(text):
    """A finite positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("{!r} is not a finite positive number of seconds".format(text))
    return value


def format_address(host, port):
    """``HOST:PORT`` as the markers show it, with an IPv6 address in brackets."""
    return "{}:{}".format("[{}]".format(host) if ":" in host else host, port)


def write_marker(marker, address):
    """Write ``MARKER@ADDRESS`` to ``sys.stdout`` as one flushed write, for a server in a process it does
    not own (:meth:`WebsocketLiaison.start`).

    No newline follows: frontends compare the chunk exactly. A reader that is
    gone (a closed pipe) is not an error: there is nobody left to tell.
    """
    try:
        sys.stdout.write("{}@{}".format(marker, address))
        sys.stdout.flush()
    except BrokenPipeError:
        # The interpreter's own flush at exit would fail too: point fd 1 at the null device.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def claim_stdout():
    """Keep the process's stdout for liaison alone (the stdio channel); return a binary stream on it.

    From then on ``print`` and anything written to file descriptor 1 (by served
    code, or a subprocess it starts) go to stderr, so that nothing can forge a
    marker or corrupt the channel.
    """
    sys.stdout.flush()
    private = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return private


def claim_stdin():
    """Keep the process's stdin for liaison alone (the stdio channel); return a binary stream on it.

    File descriptor 0, and so ``sys.stdin`` and ``sys.__stdin__`` (nothing has
    read them yet), then read the null device: ``input()`` raises EOFError, and
    served code or a subprocess it starts reads end of file instead of taking
    the parent's next requests.
    """
    private = os.fdopen(os.dup(0), "rb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return private


def serve(server, address, watch_parent=True, channel=None, end=""):
    """Serve until stopped, between the start and stop markers, running commands on this (the main)
    thread; return the exit code.

    *address* is what the markers show; *end* follows each marker. The markers
    go to *channel* (a binary stream kept for liaison); without one, to stdout,
    which served code shares (see :func:`liaison.relay.relay_stdout`). SIGINT,
    SIGTERM, CTRL_BREAK (Windows) and, if *watch_parent*, the death of the
    parent process stop the server: a command running then is interrupted,
    and if it will not end, the process exits within 5 s anyway; a second
    signal exits at once.
    """
    markers = relay_stdout() if channel is None else _ChannelMarkers(channel)
    main_thread = MainThreadDispatcher()
    server.executor = main_thread
    stop_marker = _StopMarker("{}@{}{}".format(STOP_MARKER, address, end), markers)
    request_stop = _Stopper(server, main_thread, stop_marker).request
    signals = lifecycle.handle_signals(request_stop)
    if watch_parent:
        lifecycle.watch_parent(request_stop)
    # A second later, on the deadline thread: ctypes would cost the first reply milliseconds of import.
    server.deadlines.call_later(1.0, return_large_blocks_to_os)
    markers.start("{}@{}{}".format(START_MARKER, address, end))
    server.serve_in_thread(then=main_thread.stop)  # the main thread returns as soon as serving ends
    server.after_command = signals.reclaim  # commands run on this thread, where signals are set
    try:
        main_thread.run()
    finally:
        request_stop()  # however serving ended: the forced exit is armed before stopping starts
        signals.stopping()
        server.stop()
        stop_marker.write()
    return 0


class _ChannelMarkers:
    """The markers on a channel of liaison's own (a binary stream): nothing else shares it."""

    def __init__(self, channel):
        self.channel = channel

    def start(self, text):
        """Write the START marker as one flushed write."""
        self.channel.write(text.encode("utf-8"))
        self.channel.flush()

    def finish(self, text, timeout=None):
        """Write the STOP marker as one write, within *timeout* seconds if given (the channel's deadline if not)."""
        self.channel.write(text.encode("utf-8"), timeout)


class _Stopper:
    """The thread that stops the server when asked: from a signal handler, which must not block or take
    a lock the interrupted code may hold, or from the parent watch."""

    def __init__(self, server, main_thread, stop_marker):
        self.server = server
        self.main_thread = main_thread
        self.stop_marker = stop_marker
        self.asked = threading.Event()
        self.asked_at = None
        # Both started now: when stopping, no thread may be left to start.
        threading.Thread(target=self._stop_when_asked, name="liaison-stopper", daemon=True).start()
        threading.Thread(target=self._exit_if_stuck, name="liaison-forced-exit", daemon=True).start()

    def request(self):
        """Ask for the server to stop (again: no effect); returns at once."""
        if self.asked_at is None:
            self.asked_at = time.monotonic()
        self.asked.set()

    def _stop_when_asked(self):
        self.asked.wait()
        self.main_thread.stop()
        self.server.cancel_pending(interrupt=True)
        self.server.stop()

    def _exit_if_stuck(self):
        """Exit ``FORCED_EXIT_AFTER`` seconds after the stop was asked if the STOP marker is not written by
        then, whatever stopping waits for: a command that will not end, a client or parent that reads nothing."""
        self.asked.wait()
        if self.stop_marker.written.wait(max(0.0, self.asked_at + FORCED_EXIT_AFTER - time.monotonic())):
            return
        logger.warning("a command did not let the server stop within %s s; exiting", FORCED_EXIT_AFTER)
        self.stop_marker.write(FORCED_MARKER_TIME)
        os._exit(0)


class _StopMarker:
    """The STOP marker, written once, by whichever thread gets there first."""

    def __init__(self, text, markers):
        self.text = text
        self.markers = markers
        self.written = threading.Event()
        # Guards ``written``, so that the marker is written exactly once.
        self._lock = threading.Lock()

    def write(self, timeout=None):
        """Write the marker unless it was; with *timeout*, take at most about that long (else the channel's
        own deadlines apply)."""
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return
        try:
            if not self.written.is_set():
                self.markers.finish(self.text, timeout)
                self.written.set()
        finally:
            self._lock.release()


def configure_logging(level):
    """Send the ``liaison`` logger's records to stderr at *level*, never blocking on served code's logging
    (see :mod:`liaison.logs`)."""
    logs.configure(level)


#: mallopt's parameter number for the mmap threshold, from glibc's malloc.h.
_M_MMAP_THRESHOLD = -3


def return_large_blocks_to_os():
    """On glibc, serve allocations of 4 MiB or more with mmap so a large message's memory goes back
    to the system once answered.

    glibc raises that threshold as large blocks are freed and then keeps such
    blocks in per-thread heaps, so a server that has read one 50 MB message holds
    tens of megabytes more for good. Only the CLI does this: it owns the process.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 4 << 20)

