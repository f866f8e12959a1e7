"""``websocket-server``, the package this transport builds on, imported once and quietly.

Its module runs ``logging.basicConfig()`` on import; the root logger belongs to
the host application, so the handler it adds is taken away again.
"""
import logging

from ..extras import require

__all__ = ["websocket_server"]


def _import():
    root = logging.getLogger()
    before = list(root.handlers)
    module = require("websocket_server", "websocket-server", "websocket", "liaison.websocket")
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
    return module


websocket_server = _import()
