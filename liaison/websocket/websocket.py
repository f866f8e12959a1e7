"""The names liaison-py 1.0.1's ``liaison.websocket.websocket`` module had, for code that imports them."""
from ..encoding import LiaisonJSONEncoder
from .server import WebsocketLiaison

__all__ = ["WebsocketLiaison", "LiaisonJSONEncoder", "send_message"]


def send_message(liaison, message, timeout=1):
    """Push *message* to every client of *liaison* within *timeout* seconds; return how many got it."""
    return liaison.send(message, timeout=timeout)
