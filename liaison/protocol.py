"""The message envelope: parse a request, build its reply, build events.

Transports hand in a message as received (``bytes`` or ``str``) and get back
UTF-8 bytes to send. Nothing here knows about sockets.

* request: ``{"command": {"command": name, "args": [...], "kwargs": {...}}, "id": any}``
* success: ``{"response": result, "tag": "response", "evt": request}``
* failure: ``{"error": {"type", "message", "traceback"}, "tag": "error", "evt": request or null}``
* pushed:  any JSON value, sent as it is (``{"tag": "alert", ...}`` by convention)
"""
import json

from .encoding import dumps, error_object

__all__ = ["ProtocolError", "Request", "parse", "response", "error", "push"]


class ProtocolError(ValueError):
    """A message that is not a well-formed request; the message says what is wrong.

    *raw* is the message text once it is known to be JSON, so the reply can echo it.
    """

    def __init__(self, message, raw=None):
        super().__init__(message)
        self.raw = raw


class Request:
    """A parsed request: the command with its arguments, and the raw text to echo as ``evt``."""

    __slots__ = ("command", "args", "kwargs", "id", "raw")

    def __init__(self, command, args, kwargs, id, raw):
        self.command = command
        self.args = args
        self.kwargs = kwargs
        self.id = id
        self.raw = raw


def _reject_constant(name):
    raise ProtocolError("{} is not valid JSON (RFC 8259); send null or a string instead".format(name))


def decode(message):
    """The text of a message; bytes must be UTF-8."""
    if isinstance(message, str):
        return message
    try:
        return bytes(message).decode("utf-8")
    except UnicodeDecodeError as problem:
        raise ProtocolError("message is not valid UTF-8: {}".format(problem))


#: One decoder for every request: building a decoder per call costs more than parsing a small request.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def loads(text):
    """Parse strict JSON text, with errors that say what went wrong."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ProtocolError("message is nested too deeply to parse")
    except ValueError as problem:
        if isinstance(problem, ProtocolError):
            raise
        raise ProtocolError("message is not valid JSON: {}".format(problem))


def parse(message):
    """Parse *message* (bytes or text) into a :class:`Request`, or raise :class:`ProtocolError`."""
    text = decode(message)
    data = loads(text)
    if not isinstance(data, dict):
        raise ProtocolError("a request must be a JSON object, not {}".format(_json_type(data)), text)
    body = data.get("command")
    if not isinstance(body, dict):
        raise ProtocolError(
            'a request needs "command": {"command": name, "args": [...], "kwargs": {...}}', text)
    command = body.get("command")
    if not isinstance(command, str):
        raise ProtocolError('"command.command" must be a string naming the command', text)
    args = body.get("args", [])
    if args is None:
        args = []
    if not isinstance(args, list):
        raise ProtocolError('"command.args" must be a list, not {}'.format(_json_type(args)), text)
    kwargs = body.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise ProtocolError('"command.kwargs" must be an object, not {}'.format(_json_type(kwargs)), text)
    return Request(command, args, kwargs, data.get("id"), text)


def _json_type(value):
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}[type(value)]


def _envelope(key, payload, tag, evt):
    """Join UTF-8 JSON parts into one reply; *evt* is the request as received, never re-encoded."""
    return b"".join((b'{"', key, b'": ', payload, b', "tag": "', tag, b'", "evt": ',
                     b"null" if evt is None else evt, b"}"))


def _evt(raw):
    """The request text as received, as UTF-8 bytes for the reply's ``evt`` (None stays None)."""
    return None if raw is None else _utf8(raw)


def response(result, request):
    """The reply to *request* carrying *result*, or an error reply if *result* cannot be encoded.

    Takes the request's text away from it once encoded, so that a message of
    tens of megabytes is not held three times over while the reply is built.
    """
    try:
        payload = _utf8(dumps(result))
    except Exception as problem:
        return error(problem, request)
    evt = _evt(request.raw)
    request.raw = None
    return _envelope(b"response", payload, b"response", evt)


def error(problem, request=None):
    """The error reply for exception *problem* about *request* (a :class:`Request` or None)."""
    raw = request.raw if request is not None else getattr(problem, "raw", None)
    payload = _utf8(json.dumps(error_object(problem), ensure_ascii=False))
    return _envelope(b"error", payload, b"error", _evt(raw))


def _utf8(text):
    """UTF-8 bytes of JSON *text*; lone surrogates (from ``\\ud800`` escapes) are re-escaped first."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text)).encode("ascii")


def push(message):
    """A message pushed to clients as it is, with no envelope, as UTF-8 bytes.

    A ``str`` that is already JSON text goes unchanged (liaison-py sends
    strings as they are); anything else is encoded like a result.
    """
    if isinstance(message, str):
        try:
            _DECODER.decode(message)
        except ValueError:
            pass
        else:
            return _utf8(message)
    return _utf8(dumps(message))
