"""``python -m liaison.websocket [HOST:PORT]``: serve a Companion over websockets until stopped."""
import sys

from .. import cli
from . import WebsocketLiaison


def main(argv=None):
    """Parse the command line, serve, and return the exit code."""
    parser = cli.argument_parser("python -m liaison.websocket", __doc__.split("``: ", 1)[1].strip(),
                                 "localhost:8001")
    options = parser.parse_args(argv)
    cli.configure_logging(options.log_level)
    host, port = options.address
    try:
        server = WebsocketLiaison(host, port)
    except OSError as problem:
        sys.stderr.write("liaison: cannot listen on {}:{}: {}\n".format(host, port, problem.strerror or problem))
        return 1
    return cli.serve(server, host, watch_parent=not options.no_parent_watch)


if __name__ == "__main__":
    sys.exit(main())
