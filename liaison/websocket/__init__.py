"""The websocket transport: :class:`WebsocketLiaison`, a threaded server on ``websocket-server``.

Modules: ``server`` (the server and its lifecycle), ``handler`` (one connection's
thread), ``handshake`` and ``access`` (opening a websocket, and who may),
``connection`` (state, sends with deadlines, reading messages), ``frames``
(RFC 6455 frames), ``wsserver`` (the package it builds on), ``websocket`` (the
names liaison-py's module had).
"""
import sys

from ..extras import MissingExtra
from ..server import DEFAULT_MAX_SIZE

try:
    from .handler import LiaisonHandler
    from .server import DEFAULT_PORT, WebsocketLiaison
except MissingExtra:
    # ``python -m liaison.websocket`` imports this package first (while sys.argv[0] is "-m"); its
    # __main__ then says what to install, in one line, after --help and --version had their chance.
    if sys.argv[:1] != ["-m"]:
        raise

__all__ = ["WebsocketLiaison", "LiaisonHandler", "DEFAULT_MAX_SIZE", "DEFAULT_PORT"]
