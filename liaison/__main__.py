"""``python -m liaison``: a short help naming the servers and where the clients are."""
import os
import sys

from . import __version__
from .cli import ArgumentParser

HELP = """\
liaison-backend {version}: drive this Python process with JSON commands.

Servers (each takes --help):
  python -m liaison.websocket [HOST:PORT]  websocket server, default localhost:8001
  python -m liaison.stdio                  one JSON message per line on stdin and stdout

Clients:
  Python      the module liaison.client (connect, spawn);
              pip install 'liaison-backend[websocket,client]'
  JavaScript  {javascript}
              liaison.js (an ES module) with liaison.d.ts and package.json;
              in an app: npm pack "$(python -m liaison --js-dir)", then
              npm install ./liaison-client-*.tgz; in a page: import liaison.js
"""


def javascript_client_dir():
    """The folder holding the JavaScript client, or None.

    An installed package has it as ``liaison/js``; a source checkout (``pip install -e``)
    has the npm package itself beside ``liaison/``, in ``clients/js``.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    for folder in (os.path.join(package, "js"), os.path.join(os.path.dirname(package), "clients", "js")):
        if os.path.isfile(os.path.join(folder, "liaison.js")):
            return folder
    return None


def main(argv=None):
    """Print the help, or with ``--js-dir`` only the JavaScript client's folder; return the exit code."""
    parser = ArgumentParser(prog="python -m liaison", description="What liaison-backend holds and how to start it.")
    parser.add_argument("--js-dir", action="store_true", help="print only the JavaScript client's folder")
    parser.add_argument("--version", action="version", version="liaison-backend " + __version__)
    options = parser.parse_args(argv)
    folder = javascript_client_dir()
    if options.js_dir:
        if folder is None:
            sys.stderr.write("liaison: this installation has no JavaScript client; reinstall liaison-backend\n")
            return 1
        print(folder)
        return 0
    sys.stdout.write(HELP.format(version=__version__, javascript=folder or "(missing from this installation)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
