"""``from liaison.base import BaseLiaison``, as liaison-py 1.0.1 code writes it.

``BaseLiaison`` is :class:`liaison.server.Liaison`, the transport-neutral base
class of servers (the Companion, one reply per message, pushed messages, the
dispatcher), under liaison-py's name; subclass it to add a transport.
"""
from .server import Liaison as BaseLiaison

__all__ = ["BaseLiaison"]
