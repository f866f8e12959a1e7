"""``python -m liaison.websocket [HOST:PORT]``: serve a Companion over websockets until stopped."""
import argparse
import math
import os
import sys

from .. import cli
from ..security import DEFAULT_MAX_CLIENTS, ImportPolicy
from . import DEFAULT_MAX_SIZE, WebsocketLiaison


def add_security_arguments(parser):
    """Options that decide who may connect and what they may import."""
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="also accept browser pages from ORIGIN, such as https://app.example (repeatable; "
                             "'*' accepts all); localhost pages and file:// are always accepted")
    parser.add_argument("--token",
                        help="require clients to present this token, as ?token=... or Authorization: Bearer; "
                             "when not given, $LIAISON_TOKEN is used if set (safer: other users can read "
                             "command lines, not environments)")
    parser.add_argument("--allow-import", action="append", type=_module_prefix, metavar="PREFIX",
                        help="let targets import only modules under PREFIX (repeatable), and refuse names "
                             "starting with '_'; a guard-rail, not a sandbox")
    parser.add_argument("--max-clients", type=_positive, default=DEFAULT_MAX_CLIENTS, metavar="N",
                        help="refuse connections beyond N open at once with HTTP 503")


def _module_prefix(text):
    """A dotted module name, for argparse."""
    try:
        ImportPolicy([text])
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem))
    return text


def _positive(text):
    """A positive integer, for argparse."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("{!r} is not a positive whole number".format(text))
    return int(text)


def main(argv=None):
    """Parse the command line, serve, and return the exit code."""
    parser = cli.argument_parser("python -m liaison.websocket", __doc__.split("``: ", 1)[1].strip(),
                                 "localhost:8001")
    add_security_arguments(parser)
    parser.add_argument("--max-size", type=_positive, default=DEFAULT_MAX_SIZE, metavar="BYTES",
                        help="largest message a client may send; larger ones close the connection with 1009")
    parser.add_argument("--ping-interval", type=_seconds, metavar="SECONDS",
                        help="ping every client this often and drop those that do not answer in time")
    options = parser.parse_args(argv)
    cli.configure_logging(options.log_level)
    host, port = options.address
    try:
        server = WebsocketLiaison(host, port, allow_origin=options.allow_origin,
                                  token=options.token or os.environ.get("LIAISON_TOKEN") or None,
                                  allow_import=options.allow_import, max_clients=options.max_clients,
                                  max_size=options.max_size, ping_interval=options.ping_interval)
    except OSError as problem:
        sys.stderr.write("liaison: cannot listen on {}:{}: {}\n".format(host, port, problem.strerror or problem))
        return 1
    return cli.serve(server, host, watch_parent=not options.no_parent_watch)


def _seconds(text):
    """A finite positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("{!r} is not a finite positive number of seconds".format(text))
    return value


if __name__ == "__main__":
    sys.exit(main())
