"""The websocket transport: :class:`WebsocketLiaison`, a threaded server on ``websocket-server``.

Modules: ``server`` (the server and its lifecycle), ``handler`` (one connection's
thread), ``handshake`` and ``access`` (opening a websocket, and who may),
``connection`` (state, sends with deadlines, reading messages), ``frames``
(RFC 6455 frames), ``websocket`` (the names liaison-py's module had).
"""
try:
    from .handler import LiaisonHandler
    from .server import DEFAULT_MAX_SIZE, DEFAULT_PORT, WebsocketLiaison
except ModuleNotFoundError as _missing:
    if _missing.name != "websocket_server":
        raise
    MISSING_EXTRA = _missing

    def __getattr__(name):
        """Python 3.7+: using the transport without its extra names the command that installs it."""
        raise ModuleNotFoundError(str(MISSING_EXTRA), name="websocket_server")
else:
    MISSING_EXTRA = None

__all__ = ["WebsocketLiaison", "LiaisonHandler", "DEFAULT_MAX_SIZE", "DEFAULT_PORT", "MISSING_EXTRA"]
