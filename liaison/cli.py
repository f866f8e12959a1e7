"""What every ``python -m liaison.<transport>`` command shares: address parsing, logging,
lifecycle markers on stdout, and stopping on signals.

stdout carries only the two markers, each as one flushed write; logs go to stderr.
"""
import argparse
import ctypes
import logging
import sys

from . import __version__, lifecycle
from .constants import START_MARKER, STOP_MARKER

__all__ = ["parse_address", "argument_parser", "serve"]


def parse_address(text):
    """Split ``HOST:PORT`` (or ``[IPv6]:PORT``) into host and port, for argparse."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            "{!r} is not an address; give HOST:PORT, for example localhost:8001 or 127.0.0.1:0".format(text))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError("put an IPv6 address in brackets: [{}]:{}".format(host, port))
    return host, int(port)


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
    """Write ``MARKER@HOST:PORT`` to stdout as one flushed write."""
    sys.stdout.write("{}@{}".format(marker, address))
    sys.stdout.flush()


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

