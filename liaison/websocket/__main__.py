"""``python -m liaison.websocket [HOST:PORT]``: serve a Companion over websockets until stopped."""
import argparse
import math
import sys

from .. import cli
from . import DEFAULT_MAX_SIZE, WebsocketLiaison


def main(argv=None):
    """Parse the command line, serve, and return the exit code."""
    parser = cli.argument_parser("python -m liaison.websocket", __doc__.split("``: ", 1)[1].strip(),
                                 "localhost:8001")
    parser.add_argument("--max-size", type=_positive(int), default=DEFAULT_MAX_SIZE, metavar="BYTES",
                        help="largest message a client may send; larger ones close the connection with 1009")
    parser.add_argument("--ping-interval", type=_positive(float), metavar="SECONDS",
                        help="ping every client this often and drop those that do not answer in time")
    options = parser.parse_args(argv)
    cli.configure_logging(options.log_level)
    host, port = options.address
    try:
        server = WebsocketLiaison(host, port, max_size=options.max_size, ping_interval=options.ping_interval)
    except OSError as problem:
        sys.stderr.write("liaison: cannot listen on {}:{}: {}\n".format(host, port, problem.strerror or problem))
        return 1
    return cli.serve(server, host)


def _positive(kind):
    """An argparse type: a number of *kind* greater than zero."""
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError("{!r} is not a finite positive number".format(text))
        return value
    return convert


if __name__ == "__main__":
    sys.exit(main())
