"""``python -m liaison.websocket [HOST:PORT]``: serve a Companion over websockets until stopped."""
import os
import sys

from .. import cli
from ..extras import MissingExtra
from .access import DEFAULT_MAX_CLIENTS

DESCRIPTION = "Serve a Companion over websockets until stopped."


def add_security_arguments(parser):
    """Options that decide who may connect."""
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="also accept browser pages from ORIGIN, such as https://app.example (repeatable; "
                             "'*' accepts all); localhost pages and Electron's file:// are always accepted")
    parser.add_argument("--token",
                        help="require clients to present this token, as ?token=... or Authorization: Bearer; "
                             "when not given, $LIAISON_TOKEN is used if set (safer: other users can read "
                             "command lines, not environments)")
    parser.add_argument("--max-clients", type=cli.positive_int, default=DEFAULT_MAX_CLIENTS, metavar="N",
                        help="refuse websockets beyond N open at once with HTTP 503")


def main(argv=None):
    """Parse the command line, serve, and return the exit code."""
    parser = cli.argument_parser("python -m liaison.websocket", DESCRIPTION, "localhost:8001")
    add_security_arguments(parser)
    parser.add_argument("--ping-interval", type=cli.seconds, metavar="SECONDS",
                        help="ping every client this often and drop those that do not answer in time")
    options = parser.parse_args(argv)
    try:
        from .server import WebsocketLiaison
    except MissingExtra as missing:
        sys.stderr.write("liaison: {}\n".format(missing))
        return 1
    token = options.token if options.token is not None else os.environ.get("LIAISON_TOKEN")
    if token is not None and not token:
        parser.error("an empty token would let anyone connect; give a non-empty --token or LIAISON_TOKEN, "
                     "or neither")
    cli.configure_logging(options.log_level)
    host, port = options.address
    try:
        server = WebsocketLiaison(host, port, allow_origin=options.allow_origin, token=token,
                                  allow_import=options.allow_import, max_clients=options.max_clients,
                                  max_size=options.max_size, ping_interval=options.ping_interval,
                                  send_timeout=options.send_timeout)
    except OSError as problem:
        sys.stderr.write("liaison: cannot listen on {}:{}: {}\n".format(host, port, problem.strerror or problem))
        return 1
    return cli.serve(server, cli.format_address(host, server.port), watch_parent=not options.no_parent_watch)


if __name__ == "__main__":
    sys.exit(main())
