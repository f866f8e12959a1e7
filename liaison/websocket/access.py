"""Who may open a websocket: the page's Origin, the Host it asked for, and the token.

Pure checks of one opening handshake, no sockets: :func:`check` applies
:func:`origin_allowed`, :func:`host_allowed` and :func:`token_presented`.
"""
import ipaddress
import urllib.parse

from .handshake import HandshakeError

__all__ = ["DEFAULT_MAX_CLIENTS", "check", "host_allowed", "is_loopback", "origin_allowed", "token_presented"]

#: Concurrent connections a server accepts unless told otherwise.
DEFAULT_MAX_CLIENTS = 256

_LOOPBACK_NAMES = ("localhost",)
_WEB_SCHEMES = ("http", "https")


def _ip(host):
    """*host* as an IP address (brackets around IPv6 allowed), or None when it is a name."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host):
    """Whether *host* (a name or an address) means this machine only: ``localhost``, 127.0.0.0/8, ``::1``."""
    host = host.lower().rstrip(".")
    if host in _LOOPBACK_NAMES:
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def _split_host_port(authority):
    """The host part of ``host[:port]`` or ``[ipv6][:port]``, lower-case."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        end = authority.find("]")
        return authority[:end + 1] if end > 0 else authority
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host
    return authority


def origin_allowed(origin, allowed=()):
    """Whether a browser page of *origin* (None: no ``Origin`` header) may connect.

    Allowed always: no header (not a browser), ``file://``, and http(s) pages on
    ``localhost``, ``127.0.0.1`` or ``[::1]``, any port. *allowed* adds exact
    origins such as ``https://app.example``; ``*`` allows all, ``null`` allows
    sandboxed pages.
    """
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    extra = {entry.strip().lower().rstrip("/") for entry in allowed}
    if "*" in extra or origin in extra:
        return True
    if origin == "file:":
        return True
    scheme, sep, authority = origin.partition("://")
    if not sep or scheme not in _WEB_SCHEMES or "/" in authority or "@" in authority:
        return False
    host = _split_host_port(authority)
    return host in ("localhost", "127.0.0.1", "[::1]")


def host_allowed(host_header, *bound_hosts):
    """Whether a request's ``Host`` header may reach a server bound to *bound_hosts* (name and address).

    Against DNS rebinding, where an attacker's name is made to resolve to this
    machine: the host must be a loopback name or address, or a bound host
    itself. A server bound to every interface (``0.0.0.0``, ``::``, ``""``)
    also takes any IP address, since only names can be rebound.
    """
    host = _split_host_port(host_header).rstrip(".")
    if not host:
        return False
    if is_loopback(host):
        return True
    for bound_host in bound_hosts:
        if host.strip("[]") == bound_host.lower().strip("[]"):
            return True
        bound = _ip(bound_host or "0.0.0.0")
        if bound is not None and bound.is_unspecified and _ip(host) is not None:
            return True
    return False


def token_presented(token, path, authorization):
    """Whether the request carries *token*, as ``?token=`` in *path* or ``Authorization: Bearer``.

    Compared in constant time. ``+`` in the query stays ``+``, so raw base64 tokens work.
    """
    import hmac  # only with a token: it costs start-up milliseconds (OpenSSL's hashes)
    expected = token.encode("utf-8")
    offered = []
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    for field in urllib.parse.urlsplit(path).query.split("&"):
        name, equals, value = field.partition("=")
        if equals and name == "token":
            offered.append(urllib.parse.unquote(value))
    matched = False
    for candidate in offered:
        matched |= hmac.compare_digest(candidate.encode("utf-8"), expected)
    return matched


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
