"""The message envelope: parse a request, build its reply, build pushed messages.

Transports hand in a message as received (``bytes`` or ``str``) and get back
UTF-8 bytes to send: for a large reply, a list of parts to write one after the
other, since joining them would copy megabytes. Nothing here knows about sockets.

* request: ``{"command": {"command": name, "args": [...], "kwargs": {...}}, "id": any}``
* success: ``{"response": result, "tag": "response", "evt": request}``
* failure: ``{"error": [traceback items], "exception": {"type", "message"}, "tag": "error", "evt": request or null}``
* pushed:  any JSON value, sent as it is (``{"tag": "alert", ...}`` by convention)

``error`` is what ``traceback.format_exception`` gives, as liaison-py sends it,
less liaison's own frames: items ending in newlines, the last ``Type: message``.
For an error liaison raises itself (a :class:`ProtocolError`, an unknown
command or target...) it is that one item. ``evt`` is the request as received;
for a message refused before its parts were read (over a limit on nesting or
integers, or NaN) it is just ``{"id": ...}``, so that the client can still
match the reply to its call; it is null only when the message could not be
parsed at all.

Limits on requests, checked before anything in them is used: nesting at most
``MAX_DEPTH`` arrays and objects deep, counted from the request's outer object
(so an argument in ``args`` may itself nest ``MAX_DEPTH - 3`` levels), and
integers at most ``MAX_INT_DIGITS`` digits (CPython before 3.11 takes seconds
to convert a million digits; send longer ones as strings). Either is refused
with a short ProtocolError whose ``evt`` is ``{"id": ...}``.
"""
import json
import sys
from itertools import chain

from .encoding import dumps, exception_message, exception_type, formatted_exception

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "ProtocolError", "Request", "parse", "response", "error", "push"]

#: Deepest nesting of arrays and objects a request may have, counted from its outer object.
MAX_DEPTH = 100

#: Most digits an integer in a request may have (CPython 3.11's default limit for ``int(text)``).
MAX_INT_DIGITS = 4300


class ProtocolError(ValueError):
    """A message that is not a well-formed request; the message says what is wrong.

    *raw* is the message text once it is known to be JSON, so the reply can echo it.
    """

    def __init__(self, message, raw=None):
        super().__init__(message)
        self.raw = raw


class Request:
    """A parsed request: the command with its arguments, its id and deadline (seconds or None),
    the raw text to echo as ``evt``, and what the client asked for besides the reply: *output*
    (None: the connection's choice; False; or the least logging level captured), *progress*
    (None: the connection's choice, or a bool) and *stream* (None, or the window of a streamed result)."""

    __slots__ = ("command", "args", "kwargs", "id", "timeout", "raw", "output", "progress", "stream")

    def __init__(self, command, args, kwargs, id, raw, timeout=None, output=None, progress=None, stream=None):
        self.command = command
        self.args = args
        self.kwargs = kwargs
        self.id = id
        self.timeout = timeout
        self.raw = raw
        self.output = output
        self.progress = progress
        self.stream = stream


#: Longer request deadlines than this (about 11 days) are refused: the timers cannot hold them on every platform.
_MAX_TIMEOUT = 1e6


def _reject_constant(name):
    raise ProtocolError("{} is not valid JSON (RFC 8259); send null or a string instead".format(name))


def _bounded_int(text):
    """``int(text)`` for JSON integer *text*, refused fast beyond ``MAX_INT_DIGITS`` digits."""
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise _too_long(MAX_INT_DIGITS)
    return int(text)


def _too_long(digits):
    return ProtocolError("an integer in the message has more than {} digits; send it as a string".format(digits))


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
#: The same, for text that may hold a long integer and a Python whose ``int()`` does not refuse one.
_BOUNDED_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int)
#: CPython 3.11+: the current limit on digits ``int(text)`` takes (0: none); may change at run time.
_int_digits_limit = getattr(sys, "get_int_max_str_digits", None)


def _decoder_for(text):
    """The decoder for *text*: the one that checks integer lengths only where a long integer may be.

    CPython 3.11 and later refuse long integers in ``int()`` itself (unless the
    limit is raised). Elsewhere a hook on every integer would cost a Python
    call each, so the text is first searched, at C speed, for a long run of
    digits (which may also be inside a string: then the hook decides).
    """
    if len(text) <= MAX_INT_DIGITS:
        return _DECODER
    if _int_digits_limit is not None and 0 < _int_digits_limit() <= MAX_INT_DIGITS:
        return _DECODER
    return _BOUNDED_DECODER if _has_long_digit_run(text) else _DECODER


#: Bytes -> b"1" for an ASCII digit, b"0" for anything else.
_DIGIT_MAP = bytes(49 if 48 <= byte <= 57 else 48 for byte in range(256))
_LONG_RUN = b"1" * (MAX_INT_DIGITS + 1)
_SEARCH_CHUNK = 1 << 20


def _has_long_digit_run(text):
    """Whether *text* holds more than ``MAX_INT_DIGITS`` ASCII digits in a row; a megabyte at a time."""
    for start in range(0, len(text), _SEARCH_CHUNK):
        piece = text[start:start + _SEARCH_CHUNK + MAX_INT_DIGITS].encode("utf-8", "surrogatepass")
        if _LONG_RUN in piece.translate(_DIGIT_MAP):
            return True
    return False


def loads(text):
    """Parse strict JSON text within the limits on nesting and integers, with errors that say what went wrong."""
    try:
        data = _decoder_for(text).decode(text)
    except RecursionError:
        raise _too_deep()
    except json.JSONDecodeError as problem:
        raise ProtocolError("message is not valid JSON: {}".format(problem))
    except ProtocolError:
        raise
    except ValueError:
        # int() itself refused a long integer: CPython 3.11 and later, under their own limit.
        raise _too_long(_int_digits_limit())
    if _deeper_than(data, MAX_DEPTH, text):
        raise _too_deep()
    return data


def _too_deep():
    return ProtocolError("message is nested too deeply: at most {} levels of arrays and objects".format(MAX_DEPTH))


def _deeper_than(data, limit, text):
    """Whether parsed *data* (from *text*) nests arrays and objects more than *limit* levels deep.

    Level by level, never recursing; text with few brackets is passed at C speed.
    """
    if not _has_more_brackets(text, limit):
        return False
    level = [data] if isinstance(data, (dict, list)) else []
    for _ in range(limit):
        dicts = [value for value in level if type(value) is dict]
        items = chain(chain.from_iterable(map(dict.values, dicts)),
                      chain.from_iterable(value for value in level if type(value) is list))
        level = [item for item in items if type(item) is dict or type(item) is list]
        if not level:
            return False
    return True


def _has_more_brackets(text, limit):
    """Whether *text* holds more than *limit* ``[`` and ``{`` in all: found one by one with ``str.find``,
    which skips to each at memchr speed, several times faster than counting over a large message."""
    found = 0
    for bracket in "[{":
        position = text.find(bracket)
        while position >= 0:
            found += 1
            if found > limit:
                return True
            position = text.find(bracket, position + 1)
    return False


def parse(message):
    """Parse *message* (bytes or text) into a :class:`Request`, or raise :class:`ProtocolError`."""
    text = decode(message)
    try:
        data = loads(text)
    except ProtocolError as problem:
        problem.raw = _id_only(text)
        raise
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
    timeout = data.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout < _MAX_TIMEOUT):
        raise ProtocolError('"timeout" must be a number of seconds above 0 (or absent), not {}'.format(
            json.dumps(timeout)[:40]), text)
    if "output" not in data and "progress" not in data and "stream" not in data:
        return Request(command, args, kwargs, data.get("id"), text, timeout)
    progress = data.get("progress")
    if progress is not None and not isinstance(progress, bool):
        raise ProtocolError('"progress" must be true or false (or absent), not {}'.format(
            json.dumps(progress)[:40]), text)
    return Request(command, args, kwargs, data.get("id"), text, timeout, _output(data.get("output"), text),
                   progress, _stream(data.get("stream"), text))


#: The logging level captured when a request or hello asks for output without saying which.
DEFAULT_LOG_LEVEL = 30  # logging.WARNING

#: Items of a streamed result the server sends ahead of what the client has read, unless it says otherwise.
DEFAULT_WINDOW = 16

#: The largest window a client may ask for.
MAX_WINDOW = 1024

_LEVELS = {"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20, "DEBUG": 10,
           "NOTSET": 0}


def log_level(value, where):
    """A logging level from a name (any case) or a whole number, or :class:`ProtocolError` naming *where*."""
    if isinstance(value, str) and value.upper() in _LEVELS:
        return _LEVELS[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ProtocolError('{} must be a logging level such as "INFO" or 20, not {}'.format(
        where, json.dumps(value)[:40]))


def _output(value, text):
    """The request's ``output``: None (absent), False, or the least logging level to capture."""
    if value is None or value is False:
        return value
    if value is True:
        return DEFAULT_LOG_LEVEL
    if isinstance(value, dict) and set(value) <= {"log_level"}:
        try:
            return log_level(value.get("log_level", DEFAULT_LOG_LEVEL), '"output.log_level"')
        except ProtocolError as problem:
            problem.raw = text
            raise
    raise ProtocolError('"output" must be true, false or {"log_level": "INFO"} (or absent), not ' +
                        json.dumps(value)[:40], text)


def _stream(value, text):
    """The request's ``stream``: None (absent or false), or the window of items sent ahead."""
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_WINDOW
    window = value.get("window", DEFAULT_WINDOW) if isinstance(value, dict) and set(value) <= {"window"} else None
    if isinstance(window, int) and not isinstance(window, bool) and 1 <= window <= MAX_WINDOW:
        return window
    raise ProtocolError('"stream" must be true, false or {{"window": N}} with N from 1 to {} (or absent), not {}'
                        .format(MAX_WINDOW, json.dumps(value)[:40]), text)


class _Unreadable:
    """What an integer too long to convert stands for while looking for a refused request's id."""


#: Parses what ``loads`` refuses (NaN, long integers, deep nesting) far enough to find a request's id.
_LENIENT_DECODER = json.JSONDecoder(parse_constant=lambda name: None,
                                    parse_int=lambda text: _Unreadable if len(text) > MAX_INT_DIGITS else int(text))


def _id_only(text):
    """``{"id": ...}`` as JSON text for a refused message that is an object with a readable id, else None:
    the reply's ``evt``, so that the client can match it to its call."""
    try:
        data = _LENIENT_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "id" not in data:
        return None
    try:
        evt = json.dumps({"id": data["id"]}, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return None if _deeper_than(json.loads(evt), MAX_DEPTH, evt) else evt


def _json_type(value):
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}[type(value)]


#: Replies at least this long are left in parts: the payload and the evt are not copied into one buffer.
PARTS_FROM = 1 << 16


def _envelope(key, payload, tag, evt):
    """One reply from UTF-8 JSON parts, joined unless large; *evt* is the request as received, never re-encoded."""
    parts = [b'{"', key, b'": ', payload, b', "tag": "', tag, b'", "evt": ', b"null" if evt is None else evt, b"}"]
    return parts if len(payload) + len(evt or b"") >= PARTS_FROM else b"".join(parts)


def joined(reply):
    """A reply (from :func:`response` or :func:`error`) as one bytes object."""
    return reply if isinstance(reply, bytes) else b"".join(reply)


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
    """The error reply for exception *problem* about *request* (a :class:`Request` or None).

    Never raises, whatever *problem*'s ``str()`` or traceback does.
    """
    kind = exception_type(problem)
    message = exception_message(problem)
    raw = request.raw if request is not None else problem.raw if isinstance(problem, ProtocolError) else None
    payload = _utf8(json.dumps(formatted_exception(problem), ensure_ascii=False) + ', "exception": ' + json.dumps(
        {"type": kind, "message": message}, ensure_ascii=False))
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
