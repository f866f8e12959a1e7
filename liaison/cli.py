"""What every ``python -m liaison.<transport>`` command shares: address parsing, logging,
lifecycle markers on stdout, and stopping on signals.

stdout carries only the two markers, each as one flushed write; logs go to stderr.
"""
import argparse
import ctypes
import logging
import os
import sys

from . import __version__, lifecycle
from .constants import START_MARKER, STOP_MARKER

__all__ = ["parse_address", "argument_parser", "serve"]


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


def argument_parser(prog, description, default_address):
    """The options every transport's command line accepts."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("address", nargs="?", default=default_address, type=parse_address,
                        help="HOST:PORT to listen on; port 0 takes a free port")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        help="how much to log on stderr")
    parser.add_argument("--no-parent-watch", action="store_true",
                        help="keep serving when the process that started this one dies")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return parser


def _write_marker(marker, address):
    """Write ``MARKER@HOST:PORT`` to stdout as one flushed write; drop it if nobody reads stdout any more.

    A frontend that read our stdout and died closes the pipe: the marker cannot
    reach anyone, and stopping is still a success. fd 1 then points at the null
    device, so that the interpreter's own flush at exit does not fail either.
    """
    try:
        sys.stdout.write("{}@{}".format(marker, address))
        sys.stdout.flush()
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def serve(server, shown_host, watch_parent=True):
    """Serve until stopped, between the start and stop markers; return the exit code.

    *shown_host* is the host as the user gave it; the port shown is the real one.
    SIGINT, SIGTERM, CTRL_BREAK (Windows) and, if *watch_parent*, the death of
    the parent process stop the server gracefully; a signal while stopping exits at once.
    """
    address = "{}:{}".format("[{}]".format(shown_host) if ":" in shown_host else shown_host,
                             server.server_address[1])
    stopping = lifecycle.handle_signals(server.shutdown)
    if watch_parent:
        lifecycle.watch_parent(server.shutdown)
    return_large_blocks_to_os()
    _write_marker(START_MARKER, address)
    try:
        server.serve_forever()
    finally:
        stopping()
        server.stop()
        _write_marker(STOP_MARKER, address)
    return 0


def configure_logging(level):
    """Send the ``liaison`` logger's records to stderr at *level*."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    log = logging.getLogger("liaison")
    log.addHandler(handler)
    log.setLevel(level)


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
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 4 << 20)

