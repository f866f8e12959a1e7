"""Who may open a websocket: the page's Origin, the Host it asked for, and the token.

The checks themselves are pure functions in :mod:`liaison.security`; this module
applies them to one opening handshake.
"""
from ..security import host_allowed, origin_allowed, token_presented
from .handshake import HandshakeError

__all__ = ["check"]


def check(server, path, headers):
    """Raise :class:`HandshakeError` unless this handshake may open a websocket on *server*.

    Its Host must be this machine (against DNS rebinding; browsers always send
    one), its page's Origin allowed, and it must carry the token if one is set.
    """
    if "host" in headers and not host_allowed(headers["host"], server.host, server.server_address[0]):
        raise HandshakeError(403, "Host {!r} is not this server (DNS rebinding?); connect to localhost or "
                                  "the address the server was started on".format(headers["host"][:100]))
    origin = headers.get("origin")
    if not origin_allowed(origin, server.allow_origin):
        raise HandshakeError(403, "Origin {!r} is not allowed; start the server with --allow-origin "
                                  "ORIGIN to allow that page".format(origin[:100]))
    if server.token is None:
        return
    try:
        presented = token_presented(server.token, path, headers.get("authorization"))
    except ValueError:
        raise HandshakeError(400, "malformed request path; connect to ws://HOST:PORT/?token=...")
    if not presented:
        raise HandshakeError(401, "missing or wrong token; put it in the URL as ?token=... or send "
                                  "Authorization: Bearer ...", (("WWW-Authenticate", "Bearer"),))
