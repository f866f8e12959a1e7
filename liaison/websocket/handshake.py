"""The opening handshake: read the HTTP upgrade request by a deadline, check it, answer it."""
import base64
import hashlib
import socket
import time

from . import frames

__all__ = ["HandshakeError", "read_request", "check_upgrade", "accept", "refusal"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEADER_LINE = 8192
_MAX_HEADERS = 100

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 405: "Method Not Allowed",
            426: "Upgrade Required", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


class HandshakeError(Exception):
    """An opening handshake the server refuses with HTTP *status*; *reason* never holds a header's value."""

    def __init__(self, status, reason, extra_headers=()):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra_headers = extra_headers


def read_request(sock, rfile, timeout):
    """Read the request line and headers within *timeout* seconds, however slowly their bytes come.

    Returns the path and a dict of lower-case header names; raises
    :class:`HandshakeError`, ``socket.timeout``, or
    :class:`frames.ConnectionClosed` when the client leaves first.
    """
    deadline = time.monotonic() + timeout
    blocking = sock.gettimeout()
    try:
        return _read_request(sock, rfile, deadline)
    finally:
        sock.settimeout(blocking)


def _read_request(sock, rfile, deadline):
    line = _read_line(sock, rfile, deadline)
    if not line:
        raise frames.ConnectionClosed("connection closed before the handshake")
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HandshakeError(400, "malformed HTTP request line")
    method, path, _ = parts
    if method != "GET":
        raise HandshakeError(405, "a websocket handshake must use GET, not {}".format(method[:20]),
                             (("Allow", "GET"),))
    headers = {}
    for _ in range(_MAX_HEADERS + 1):
        line = _read_line(sock, rfile, deadline)
        if len(line) > _MAX_HEADER_LINE:
            raise HandshakeError(431, "header line too long")
        if not line:
            raise frames.ConnectionClosed("connection closed during the handshake")
        text = line.decode("latin-1").strip()
        if not text:
            return path, headers
        name, colon, value = text.partition(":")
        if not colon:
            # The line may be a credential sent without its colon: never echo it.
            raise HandshakeError(400, "malformed header line (no colon after the header name)")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    raise HandshakeError(431, "too many header lines")


def _read_line(sock, rfile, deadline):
    """One line of the request, at most one byte over the limit, by *deadline*."""
    line = b""
    while len(line) <= _MAX_HEADER_LINE:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("handshake deadline passed")
        sock.settimeout(remaining)
        buffered = rfile.peek(1)[:_MAX_HEADER_LINE + 1 - len(line)]
        if not buffered:
            break
        end = buffered.find(b"\n")
        line += rfile.read(len(buffered) if end < 0 else end + 1)
        if end >= 0:
            break
    return line


def check_upgrade(headers):
    """Raise :class:`HandshakeError` unless *headers* ask for a version 13 websocket."""
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise HandshakeError(426, "this is a websocket server; send Upgrade: websocket",
                             (("Upgrade", "websocket"),))
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise HandshakeError(400, "missing Connection: Upgrade")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "unsupported websocket version; use 13", (("Sec-WebSocket-Version", "13"),))
    try:
        key = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise HandshakeError(400, "missing or malformed Sec-WebSocket-Key")


def accept(headers):
    """The 101 response that opens the websocket asked for by *headers* (already checked)."""
    key = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + key + b"\r\n\r\n")


def refusal(error):
    """The plain-text HTTP response refusing a handshake with :class:`HandshakeError` *error*."""
    body = (error.reason + "\n").encode("utf-8")
    head = "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n".format(
        error.status, _REASONS.get(error.status, "Error"), len(body))
    for name, value in error.extra_headers:
        head += "{}: {}\r\n".format(name, value)
    head += "Connection: close\r\n\r\n"
    return head.encode("latin-1") + body


def _tokens(value):
    """The lower-case comma-separated tokens of a header value."""
    return [token.strip().lower() for token in value.split(",")]
