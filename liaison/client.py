"""A blocking Python client: :func:`connect` to a running liaison, or :func:`spawn` one and talk to it
over a websocket or over the child's stdin and stdout.

Calls block until their own reply. One reader thread receives every message and hands
each reply to the caller waiting on its id, so one client can be shared between threads;
a call's output, progress and streamed items go to that call's callbacks and iterator, and
messages the server pushes go to the handlers registered with :meth:`Client.on`. Websockets
need ``websocket-client`` (``pip install 'liaison-backend[client]'``); stdio needs nothing.
"""
import codecs
import functools
import itertools
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from urllib.parse import quote, urlsplit

from .constants import START_MARKER, STOP_MARKER
from .extras import require
from .protocol import DEFAULT_WINDOW, MAX_DEPTH, MAX_INT_DIGITS, MAX_WINDOW
from .remote import RemoteError, headline, is_reply, remote_error, result

__all__ = ["Client", "SpawnedClient", "connect", "spawn", "RemoteError", "DEFAULT_TIMEOUT", "CANCEL_GRACE", "FEATURES",
           "STREAM_WINDOW"]

logger = logging.getLogger("liaison")

#: Seconds to wait for a connection, a reply, or a spawned server's start marker.
DEFAULT_TIMEOUT = 30.0

#: Seconds a timed-out call waits, after sending ``cancel``, for the server to end it.
CANCEL_GRACE = 1.0

#: Seconds a failed send waits for the reader to learn why the connection ended, to say so.
_END_WAIT = 1.0

#: Most of a spawned server's stderr quoted in an error, in characters.
_STDERR_QUOTE = 4000

#: The features a client asks for in ``hello``: ``interleave``, pushed messages as they are made, even during its calls.
FEATURES = ("interleave",)

#: Commands a server answers at once, out of turn; it answers every other request in the order it was sent.
_URGENT = frozenset(["ping", "cancel", "hello", "more"])

#: Items of a streamed result the server sends ahead of those read, unless :meth:`Client.stream` is told otherwise.
STREAM_WINDOW = DEFAULT_WINDOW

#: Messages a server sends for one request, before its reply, by tag: the callback of the call each goes to.
_CALL_MESSAGES = {"stream": "on_output", "progress": "on_progress", "item": "items"}

#: What the iterator of a streamed call finds in its queue once the reply has come or the connection has ended.
_END = object()

#: The server's limits on a request, as a server without ``hello`` has them.
_DEFAULT_LIMITS = {"max_depth": MAX_DEPTH, "max_int_digits": MAX_INT_DIGITS}

#: Where the token a server wants is set, for messages.
_TOKEN_SOURCE = "the one the server was started with (its LIAISON_TOKEN or --token)"


def _at_least(args, count, usage):
    """Raise TypeError unless *args* (``self`` included) holds *count* positional arguments."""
    if len(args) < count:
        raise TypeError("{} takes at least {} positional arguments".format(usage, count - 1))


class _Pending:
    """A call waiting for its reply; ``reply`` stays None if the connection ends first.

    An *abandoned* call timed out or was given up: its reply, and any message for it, are
    dropped without a word if they ever come. *on_output* and *on_progress* take the call's
    output and progress messages; *items*, a queue, the items of a streamed result, then
    :data:`_END`.
    """

    __slots__ = ("command", "done", "reply", "order", "sent", "abandoned", "on_output", "on_progress", "items")

    def __init__(self, command, on_output=None, on_progress=None, items=None):
        self.command = command
        self.done = threading.Event()
        self.reply = None
        self.order = None  # its place among the client's requests on the wire, once it is being sent
        self.sent = False
        self.abandoned = False
        self.on_output = on_output
        self.on_progress = on_progress
        self.items = items

    def settle(self, reply):
        """Take the reply (None: the connection ended) and wake whoever waits for it."""
        self.reply = reply
        self.done.set()
        if self.items is not None:
            self.items.put(_END)


class Client:
    """A conversation with a liaison, with one blocking method per command.

    A method returns the response, or raises :class:`~liaison.RemoteError` for an error reply,
    ``TimeoutError`` when no reply comes within ``timeout`` seconds (the call is then cancelled
    in the server), and ``ConnectionError`` once the connection has ended; a request over the
    server's limits raises ``ValueError`` at once, sending nothing. Use :func:`connect` or
    :func:`spawn` to make one: they greet the server first. ``hello`` is the server's answer to
    ``hello``, or None from a server without it (liaison-py, older liaison-backend). *on_event*
    is a handler for every pushed message, as ``on("*", on_event)``.
    """

    def __init__(self, channel, timeout=DEFAULT_TIMEOUT, on_event=None):
        self.channel = channel
        self.timeout = timeout
        self.hello = None
        self._limits = _DEFAULT_LIMITS
        self._ids = itertools.count(1)
        # Guards _pending, _ended and _handlers, and each pending call's reply until it is done.
        self._lock = threading.Lock()
        self._pending = {}
        self._ended = None
        self._handlers = {"*": [on_event]} if on_event is not None else {}
        # Guards the order of requests on the wire, _order: each is numbered as it is sent. Taken before the
        # channel's own send lock, never with _lock held.
        self._send_lock = threading.Lock()
        self._order = itertools.count()
        self._reader = threading.Thread(target=self._read, name="liaison-client-reader", daemon=True)
        self._reader.start()

    @property
    def url(self):
        """Where the server is: its ``ws://`` URL, or how it was started for stdio."""
        return self.channel.name

    # The commands.

    def get(self, target):
        """The value *target* points to."""
        return self.call("get", [target])

    def exists(self, target):
        """Whether *target* resolves; never raises a RemoteError."""
        return self.call("exists", [target])

    def init(*args, **kwargs):
        """``init(name, cls, *args, **kwargs)``: build ``cls(*args, **kwargs)`` and store it under *name*."""
        _at_least(args, 3, "init(name, cls, *args, **kwargs)")
        return args[0].call("init", args[1:], kwargs)

    def run(*args, **kwargs):
        """``run(fcn, *args, **kwargs)``: what ``fcn(*args, **kwargs)`` returns."""
        _at_least(args, 2, "run(fcn, *args, **kwargs)")
        return args[0].call("run", args[1:], kwargs)

    def attempt(*args, **kwargs):
        """``attempt(fcn, *args, **kwargs)``, the ``try`` command: ``{"success": bool, "result": ...}``."""
        _at_least(args, 2, "attempt(fcn, *args, **kwargs)")
        return args[0].call("try", args[1:], kwargs)

    def register(self, name, target):
        """Store *target*'s object under *name* (None: its ``__name__``); returns the name."""
        return self.call("register", [name, target])

    def store(self, name, value):
        """Store *value* under *name*; returns the name."""
        return self.call("store", [name, value])

    def ping(self):
        """``"pong"``, even while another command runs."""
        return self.call("ping")

    def describe(self, target=None):
        """What *target* is and how to call it; with no target, the server's commands and their signatures."""
        return self.call("describe", [] if target is None else [target])

    def cancel(self, request_id):
        """Ask the server to cancel this client's request *request_id* (see :meth:`in_flight`).

        Returns ``"dequeued"``, ``"interrupted"``, ``"finished"`` or ``"unknown"``; the cancelled
        call itself raises a RemoteError of type ``Cancelled`` once the server ends it.
        """
        return self.call("cancel", [request_id])

    # Requests and replies.

    def call(self, command, args=(), kwargs=None, timeout=None, on_output=None, on_progress=None, log_level=None):
        """Send *command* with *args* and *kwargs*, wait for its reply and return the response.

        *timeout* (seconds; None: the client's ``timeout``, which may itself be None to wait for
        ever) bounds the wait. When it passes, the call is cancelled in the server and
        ``TimeoutError`` is raised as soon as the server has ended it, or after
        :data:`CANCEL_GRACE` more seconds if it does not (a command blocked in C cannot be
        interrupted); its ``__cause__`` is the ``Cancelled`` RemoteError when that came.

        *on_output* asks the server for the command's output: ``on_output(message)`` gets each
        ``{"tag": "stream", "id", "name", "text"}`` message (``name``: ``"stdout"``, ``"stderr"``,
        ``"log"`` for logging records at *log_level* and above, default ``"WARNING"``, or
        ``"warning"``). *on_progress* asks for its progress: ``on_progress(message)`` gets each
        ``{"tag": "progress", "id", "done", "total", "message"}`` from ``liaison.progress()``.
        Both run on the reader thread, all before the call returns. Without them the command's
        output goes where it goes without a client (the server's stdout, stderr and log).
        """
        timeout = self.timeout if timeout is None else timeout
        request_id, pending = self._request(command, args, kwargs, _Pending(command, on_output, on_progress),
                                            _report_fields(on_output, on_progress, log_level))
        if not pending.done.wait(timeout):
            raise self._timed_out(request_id, pending, timeout)
        if pending.reply is None:
            raise ConnectionError(self._ended)
        return result(pending.reply)

    def stream(self, command, args=(), kwargs=None, timeout=None, window=STREAM_WINDOW, on_output=None,
               on_progress=None, log_level=None):
        """Send *command* asking for its result item by item; return an iterator of the items.

        For a command whose result is an iterator (a generator, ``map``...), the server sends each
        item as it is made, at most *window* (1 to 1024) ahead of those this iterator has given;
        the command's generator waits for the rest. The request goes out when the first item is
        asked for. *timeout* (seconds; None: the client's) bounds each wait for the next item or
        the end, not the whole stream: when it passes, the request is cancelled and
        ``TimeoutError`` raised, as for :meth:`call`. Closing the iterator before its end
        (``break`` out of a ``for`` loop, ``close()``) cancels the request, without waiting: the
        server closes the generator, whose ``finally`` runs. An error reply, the generator's
        exception included, raises :class:`RemoteError` once the items before it are given.
        A result that is a list (or a server that cannot stream, which sends the list) gives its
        items; any other result raises ``TypeError``. *on_output*, *on_progress* and *log_level*
        are as for :meth:`call`.
        """
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
            raise ValueError("window must be a whole number of items from 1 to {}, not {!r}".format(MAX_WINDOW,
                                                                                                  window))
        fields = dict(_report_fields(on_output, on_progress, log_level), stream={"window": window})
        return self._items(command, args, kwargs, self.timeout if timeout is None else timeout, window, fields,
                           _Pending(command, on_output, on_progress, queue.Queue()))

    def _items(self, command, args, kwargs, timeout, window, fields, pending):
        """The generator :meth:`stream` returns: send the request, give each item as it comes, and say
        ``more`` after each half *window* given; cancel the request if closed before its end."""
        request_id, _ = self._request(command, args, kwargs, pending, fields)
        given = 0
        unacknowledged = 0
        try:
            while True:
                item = self._next_item(request_id, pending, timeout)
                if pending.abandoned:
                    raise ConnectionError(self._ended or "the client of {} was closed".format(self.url))
                if item is _END:
                    break
                yield item
                given += 1
                unacknowledged += 1
                if unacknowledged >= max(1, window // 2):
                    self._more(request_id, unacknowledged, pending)
                    unacknowledged = 0
        finally:
            if not pending.done.is_set() and not pending.abandoned:
                self._give_up(request_id)
        if pending.reply is None:
            raise ConnectionError(self._ended)
        response = result(pending.reply)
        if response == {"items": given}:
            return
        if not isinstance(response, list) or given:
            raise TypeError("{} returned {}, not an iterator or a list: use call() for it".format(
                command, type(response).__name__))
        for item in response:
            yield item

    def _next_item(self, request_id, pending, timeout):
        """The next item of a streamed call, or :data:`_END`; TimeoutError, once the call is cancelled, if none
        comes within *timeout* seconds."""
        try:
            return pending.items.get(timeout=timeout)
        except queue.Empty:
            pass
        raise self._timed_out(request_id, pending, timeout, "no item or reply of")

    def _more(self, request_id, count, pending):
        """Tell the server that *count* more items of streamed request *request_id* were given; nobody waits
        for the answer. Nothing is sent once the stream has ended."""
        if pending.done.is_set():
            return
        try:
            more_id, _ = self._request("more", [request_id, count], None)
        except ConnectionError:
            return  # the iterator learns of it from its queue
        self._abandon(more_id)

    def _give_up_streams(self):
        """Cancel every streamed call still open, dropping what still comes for them."""
        with self._lock:
            streams = [request_id for request_id, pending in self._pending.items()
                       if pending.items is not None and pending.sent and not pending.abandoned]
        for request_id in streams:
            self._give_up(request_id)

    def _give_up(self, request_id):
        """Cancel a streamed request whose iterator was closed early, dropping all that still comes for it."""
        self._abandon(request_id)
        try:
            cancel_id, _ = self._request("cancel", [request_id], None)
        except ConnectionError:
            return
        self._abandon(cancel_id)

    def in_flight(self):
        """The ids of this client's calls sent and waiting for their reply, mapped to their command names."""
        with self._lock:
            return {request_id: pending.command for request_id, pending in self._pending.items()
                    if pending.sent and not pending.abandoned}

    def _greet(self):
        """Send ``hello`` with :data:`FEATURES`; keep the server's answer as ``hello``, and the limits it gives.

        A server without ``hello`` answers with an error (older liaison-backend) or ``null``
        (liaison-py, for any unknown command): the client then goes on without features.
        """
        try:
            answer = self.call("hello", kwargs={"features": list(FEATURES)})
        except RemoteError:
            return
        if isinstance(answer, dict) and "protocol" in answer:
            self.hello = answer
            self._limits = dict(_DEFAULT_LIMITS, **(answer.get("limits") or {}))

    def _request(self, command, args, kwargs, pending=None, fields=None):
        """Send one request, with *fields* beside its command and id; return its id and the :class:`_Pending`
        its reply will reach (*pending*, or a new one)."""
        request_id = next(self._ids)
        message = {"command": {"command": command, "args": list(args), "kwargs": kwargs or {}}, "id": request_id}
        message.update(fields or {})
        text = _encode(message, self._limits)
        pending = _Pending(command) if pending is None else pending
        with self._lock:
            if self._ended is not None:
                raise ConnectionError(self._ended)
            self._pending[request_id] = pending
        try:
            with self._send_lock:
                pending.order = next(self._order)
                self.channel.send(text)
        except BaseException as problem:
            with self._lock:
                self._pending.pop(request_id, None)
            if isinstance(problem, ConnectionError) and self._reader is not threading.current_thread():
                # The reader is about to learn why (a close frame, the end of output): say that instead.
                self._reader.join(_END_WAIT)
                if self._ended is not None:
                    raise ConnectionError(self._ended)
            raise
        with self._lock:
            pending.sent = True
        return request_id, pending

    def _timed_out(self, request_id, pending, timeout, missing="no reply to"):
        """Cancel a call that got no reply (or item: *missing* says which) in time and return the TimeoutError
        saying what came of it."""
        cancel_id = cancelling = None
        try:
            cancel_id, cancelling = self._request("cancel", [request_id], None)
        except ConnectionError:
            pass
        pending.done.wait(CANCEL_GRACE)
        self._abandon(request_id)
        self._abandon(cancel_id)
        problem = TimeoutError("{} {} within {} s from {}; {}".format(
            missing, pending.command, timeout, self.url, _cancel_outcome(cancelling, pending)))
        if pending.reply is not None and pending.reply.get("tag") == "error":
            problem.__cause__ = remote_error(pending.reply)
        return problem

    def _abandon(self, request_id):
        """Drop the reply to *request_id* without a word if it comes: nobody waits for it any more."""
        with self._lock:
            pending = self._pending.get(request_id)
            if pending is not None:
                pending.abandoned = True

    # Messages from the server.

    def on(self, tag, handler):
        """Call ``handler(message)`` for every pushed message whose ``"tag"`` is *tag*; ``"*"``: every pushed message.

        Handlers run on the reader thread, in the order registered (tag handlers before
        ``"*"``); they must not wait for a reply from this client. Returns a function that
        removes the handler.
        """
        with self._lock:
            self._handlers[tag] = self._handlers.get(tag, []) + [handler]

        def remove():
            with self._lock:
                self._handlers[tag] = [known for known in self._handlers.get(tag, []) if known is not handler]

        return remove

    def _read(self):
        """Hand every reply to its caller and every pushed message to its handlers until the connection ends."""
        reason = "the client's reader failed"
        try:
            while True:
                message = json.loads(self.channel.receive())
                if is_reply(message):
                    self._settle(message)
                elif not self._route(message):
                    self._push(message)
        except ConnectionError as ended:
            reason = str(ended)
        except ValueError as problem:
            reason = "{} sent a message that is not JSON: {}".format(self.url, problem)
        finally:
            self._end(reason)

    def _settle(self, reply):
        """Give a reply to the call waiting for it."""
        request = reply.get("evt")
        with self._lock:
            if request is None and reply.get("tag") == "error":
                request_id = self._oldest_waiting()
            else:
                request_id = request.get("id") if isinstance(request, dict) else None
            pending = self._pending.pop(request_id, None) if _hashable(request_id) else None
            if pending is not None:
                pending.settle(reply)
        if pending is None:
            logger.warning("a reply from %s matches no waiting call: %.200s", self.url, reply)

    def _route(self, message):
        """Hand a message the server sent for one of this client's calls (its output, progress, or an item of
        its streamed result) to that call; return False for any other message, a pushed one.

        A message for an abandoned call is dropped. One whose id is no call's, or that a call did not
        ask for, is taken for a pushed message that happens to look alike.
        """
        tag = message.get("tag") if isinstance(message, dict) else None
        if not _hashable(tag) or tag not in _CALL_MESSAGES or "id" not in message:
            return False
        attribute = _CALL_MESSAGES[tag]
        request_id = message["id"]
        with self._lock:
            pending = self._pending.get(request_id) if _hashable(request_id) else None
        target = None if pending is None else getattr(pending, attribute)
        if target is None:
            return False
        if pending.abandoned:
            return True
        if attribute == "items":
            target.put(message.get("item"))
            return True
        try:
            target(message)
        except Exception:
            logger.exception("the %s callback of a call failed for a message from %s", attribute, self.url)
        return True

    def _oldest_waiting(self):
        """The id of the oldest request sent and unanswered that is not urgent (call with the lock held).

        The server answers those in the order they came, so an error reply whose ``evt`` is null
        (the server could not read the request) is that one's.
        """
        waiting = [(pending.order, request_id) for request_id, pending in self._pending.items()
                   if pending.order is not None and pending.command not in _URGENT]
        return min(waiting)[1] if waiting else None

    def _push(self, message):
        """Hand a pushed message to the handlers of its tag, then to the catch-all handlers."""
        tag = message.get("tag") if isinstance(message, dict) else None
        with self._lock:
            tagged = self._handlers.get(tag, []) if tag != "*" and _hashable(tag) else []
            handlers = tagged + self._handlers.get("*", [])
        for handler in handlers:
            try:
                handler(message)
            except Exception:
                logger.exception("a handler failed for a message from %s", self.url)

    def _end(self, reason):
        """Mark the connection ended and release every waiting caller."""
        with self._lock:
            self._ended = reason
            pending, self._pending = list(self._pending.values()), {}
        for call in pending:
            call.settle(None)

    def close(self):
        """Close the connection (politely: a close frame, or the end of the server's stdin) and wait for the reader.

        Streamed calls still open are cancelled first: nobody will read them.
        """
        if self._reader.is_alive():
            self._give_up_streams()
            self.channel.close(self.timeout)
            if self._reader is not threading.current_thread():
                self._reader.join(self.timeout)
        self.channel.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _encode(message, limits):
    """The JSON text of request *message*; ValueError, saying why, if the server would refuse it as over *limits*."""
    command = message["command"]["command"]
    digits = limits.get("max_int_digits")
    try:
        text = json.dumps(message)
    except ValueError:
        # CPython 3.11 and later refuse to write integers longer than sys.get_int_max_str_digits().
        if digits and _holds_long_integer(message, digits):
            raise ValueError(_too_many_digits(command, digits)) from None
        raise
    size, depth = limits.get("max_size"), limits.get("max_depth")
    # json.dumps writes ASCII: each character is a byte.
    if size and len(text) > size:
        raise ValueError("cannot send {}: the request is {} bytes, more than the {} the server takes (its "
                         "--max-size)".format(command, len(text), size))
    if depth and text.count("[") + text.count("{") > depth and _deeper_than(message, depth):
        raise ValueError("cannot send {}: it nests arrays and objects more than the {} levels the server takes, "
                         "counted from the request's outer object (an argument may nest {})".format(command, depth,
                                                                                                  depth - 3))
    if digits and _has_digit_run(text, digits) and _holds_long_integer(message, digits):
        raise ValueError(_too_many_digits(command, digits))
    return text


def _too_many_digits(command, digits):
    """The message of a request holding an integer longer than the server takes."""
    return ("cannot send {}: it holds an integer of more than the {} digits the server takes; send it as a "
            "string".format(command, digits))


def _levels(data):
    """The lists, tuples and dicts in *data*, level by level (the first is *data* itself), never recursing."""
    level = [data] if isinstance(data, (dict, list, tuple)) else []
    while level:
        yield level
        level = [item for container in level for item in _values(container) if isinstance(item, (dict, list, tuple))]


def _values(container):
    """The values in a list, tuple or dict (its keys are names, never containers)."""
    return container.values() if isinstance(container, dict) else container


def _deeper_than(data, limit):
    """Whether *data* nests lists, tuples and dicts more than *limit* levels deep."""
    return sum(1 for _ in itertools.islice(_levels(data), limit + 1)) > limit


def _holds_long_integer(data, digits):
    """Whether *data* holds an integer (not a bool) of more than *digits* digits."""
    bound = 10 ** digits
    return any(isinstance(item, int) and not isinstance(item, bool) and abs(item) >= bound
               for level in _levels(data) for container in level for item in _values(container))


#: Bytes -> b"1" for an ASCII digit, b"0" for anything else.
_DIGIT_MAP = bytes(49 if 48 <= byte <= 57 else 48 for byte in range(256))


def _has_digit_run(text, digits):
    """Whether ASCII *text* holds more than *digits* digits in a row (perhaps inside a string)."""
    if len(text) <= digits:
        return False
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if 0 < limit <= digits:
        return False  # json.dumps has refused longer integers already
    return b"1" * (digits + 1) in text.encode("ascii").translate(_DIGIT_MAP)


def _report_fields(on_output, on_progress, log_level):
    """The request fields that ask the server for a call's output and progress: only for the callbacks given."""
    fields = {}
    if on_output is not None:
        fields["output"] = True if log_level is None else {"log_level": log_level}
    elif log_level is not None:
        raise TypeError("log_level is the least level of the logging records sent to on_output: give on_output too")
    if on_progress is not None:
        fields["progress"] = True
    return fields


def _hashable(value):
    """Whether *value* (parsed JSON) can be a dict key: ids are numbers or strings, but a server may echo anything."""
    return not isinstance(value, (dict, list))


def _cancel_outcome(cancelling, pending):
    """What came of the ``cancel`` sent for a timed-out call, for its TimeoutError."""
    if pending.reply is not None:
        cancelled = pending.reply.get("tag") == "error" and remote_error(pending.reply).type == "Cancelled"
        return "cancelled it" if cancelled else "it had just ended"
    if cancelling is None or cancelling.reply is None:
        answer = "sent cancel, no answer"
    elif cancelling.reply.get("tag") == "error":
        error = remote_error(cancelling.reply)
        answer = "the server cannot cancel it ({})".format(headline(error.type, error.message))
    else:
        answer = "cancel answered {!r}".format(cancelling.reply.get("response"))
    return answer + ": it may still be running"


# Websockets.

@functools.lru_cache(maxsize=None)
def _websocket_client():
    """websocket-client and our connection class on it, imported on first use: stdio needs neither."""
    websocket = require("websocket", "websocket-client", "client", "liaison.client")

    class Connection(websocket.WebSocket):
        """websocket-client's connection, answering a close frame even when the server has already gone."""

        def send_close(self, *args, **kwargs):
            # The server may drop the socket right after its own close frame; the reply is then moot,
            # and an error here would hide the close code and reason from the reader.
            try:
                super().send_close(*args, **kwargs)
            except (websocket.WebSocketException, OSError):
                pass

    return websocket, Connection


class _WebsocketChannel:
    """A websocket connection, as the :class:`Client` uses it: send and receive text, close."""

    def __init__(self, url, token, timeout):
        websocket, connection = _websocket_client()
        self.name = url
        self._errors = (websocket.WebSocketException, OSError)
        self._close_opcode = websocket.ABNF.OPCODE_CLOSE
        header = []
        if token is not None:
            url += ("&" if "?" in url else "?") + "token=" + quote(token, safe="")
            header.append("Authorization: Bearer " + token)
        try:
            # No Origin header: this is not a browser.
            self.ws = websocket.create_connection(url, timeout=timeout, class_=connection, header=header,
                                                  suppress_origin=True, enable_multithread=True)
        except websocket.WebSocketBadStatusException as refusal:
            raise ConnectionRefusedError(_refused(self.name, refusal.status_code, token is not None)) from None
        except ConnectionRefusedError:
            raise ConnectionRefusedError(
                "nothing is listening at {}: is the server started, at this address?".format(self.name)) from None
        except (socket.timeout, websocket.WebSocketTimeoutException):
            raise TimeoutError("could not connect to {} within {} s".format(self.name, timeout)) from None
        except OSError as problem:
            raise ConnectionError("could not connect to {}: {}".format(self.name, problem)) from None
        self.ws.settimeout(None)

    def send(self, text):
        try:
            self.ws.send(text)
        except self._errors as problem:
            raise ConnectionError("cannot send to {}: {}".format(self.name, problem))

    def receive(self):
        """The next message's text; ConnectionError once the connection has ended."""
        try:
            opcode, data = self.ws.recv_data()
        except self._errors as problem:
            raise ConnectionError("connection to {} lost: {}".format(self.name, problem))
        if opcode == self._close_opcode:
            raise ConnectionError("{} closed the connection{}".format(self.name, _close_reason(data)))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as problem:
            raise ConnectionError("{} sent a message that is not UTF-8: {}".format(self.name, problem))

    def close(self, timeout):
        self.ws.send_close()

    def release(self):
        self.ws.shutdown()


def _refused(url, status, token_sent):
    """Why the server at *url* refused a handshake with HTTP *status*, and what to do about it."""
    if status == 401 and token_sent:
        return "{} refused the token (HTTP 401): pass {}".format(url, _TOKEN_SOURCE)
    if status == 401:
        return "{} wants a token (HTTP 401): pass {} as token=...".format(url, _TOKEN_SOURCE)
    if status == 403:
        # Only browsers send an Origin, so the Host check is what refused this client.
        return ("{} refused the host name {} (HTTP 403, against DNS rebinding): connect to localhost, 127.0.0.1 "
                "or the address the server was started on".format(url, urlsplit(url).hostname))
    if status == 503:
        return ("{} is full (HTTP 503): it has as many clients as its --max-clients allows; close another client, "
                "or start the server with a higher --max-clients".format(url))
    return "{} refused the connection with HTTP {}".format(url, status)


def _close_reason(data):
    """`` (code N: reason)`` from a close frame's payload, or nothing when it has none."""
    if len(data) < 2:
        return ""
    reason = data[2:].decode("utf-8", "replace")
    return " (code {}{})".format(int.from_bytes(data[:2], "big"), ": " + reason if reason else "")


def connect(address, token=None, timeout=DEFAULT_TIMEOUT, on_event=None):
    """Connect to the liaison at *address* (``HOST:PORT`` or a ``ws://`` URL) and return a :class:`Client`
    once it has greeted the server.

    *token* is sent as ``?token=`` in the URL and as ``Authorization: Bearer``. A connection that
    fails raises a ``ConnectionError`` that says why and what to do: nothing listening at the
    address, a missing or wrong token (HTTP 401), a refused host name (403), a full server (503).
    """
    channel = _WebsocketChannel(_websocket_url(address), token, timeout)
    client = Client(channel, timeout=timeout, on_event=on_event)
    try:
        client._greet()
    except BaseException:
        channel.release()
        raise
    return client


def _websocket_url(address):
    """The ``ws://`` URL of *address* (``HOST:PORT`` or a URL); ValueError, saying what to give, without a port."""
    url = address if "://" in address else "ws://" + address
    try:
        port = urlsplit(url).port
    except ValueError as problem:
        raise ValueError("{!r} is not an address ({}): give HOST:PORT or ws://HOST:PORT, for example "
                         "localhost:8001".format(address, problem)) from None
    if port is None:
        raise ValueError("{!r} has no port: give HOST:PORT, for example localhost:8001 (the server's default), or the "
                         "port its start marker shows".format(address))
    return url


# Spawned servers.

class _ServerProcess:
    """A spawned ``python -m liaison.<transport>``, every pipe of which is read to its end.

    Its stderr is passed through to this process's stderr (served code's ``print`` goes there),
    keeping the end of it for error messages; its stdout is read by ``stdout_reader``, a thread.
    """

    def __init__(self, command, env, stdin, cwd=None):
        self.command = " ".join(command)
        self.process = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                        cwd=cwd)
        self.stdout_reader = None
        # Guards _stderr, the end of the server's stderr so far.
        self._stderr_lock = threading.Lock()
        self._stderr = ""
        self._stderr_reader = threading.Thread(target=self._pass_stderr, name="liaison-server-stderr", daemon=True)
        self._stderr_reader.start()

    def _pass_stderr(self):
        """Copy the server's stderr to ours until it ends, keeping its last characters."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for chunk in iter(functools.partial(os.read, self.process.stderr.fileno(), 65536), b""):
            text = decoder.decode(chunk)
            with self._stderr_lock:
                self._stderr = (self._stderr + text)[-_STDERR_QUOTE:]
            if sys.stderr is not None:
                sys.stderr.write(text)
                sys.stderr.flush()

    def stderr_tail(self):
        """The end of the server's stderr, for error messages; complete once the server has exited."""
        if self.process.poll() is not None:
            self._stderr_reader.join(1)
        with self._stderr_lock:
            return self._stderr.strip() or "(nothing)"

    def first_output(self, read, timeout):
        """What ``read()`` returns from the server's stdout (b"" if it exits first), or None after *timeout* seconds."""
        outputs = []
        self.stdout_reader = threading.Thread(target=lambda: outputs.append(read()), daemon=True)
        self.stdout_reader.start()
        self.stdout_reader.join(timeout)
        return outputs[0] if outputs else None

    def check_marker(self, output, expected, timeout):
        """What follows *expected* in *output* (from :meth:`first_output`); raise, quoting stderr, if it is absent."""
        if output is None:
            raise TimeoutError("{} wrote no start marker within {} s; its stderr: {}".format(
                self.command, timeout, self.stderr_tail()))
        text = output.decode("utf-8", "replace")
        if not text:
            raise RuntimeError("{} exited with code {} before listening; its stderr: {}".format(
                self.command, self.process.wait(timeout), self.stderr_tail()))
        if not text.startswith(expected):
            raise RuntimeError("{} wrote {!r} instead of its start marker; its stderr: {}".format(
                self.command, text[:200], self.stderr_tail()))
        return text[len(expected):]

    def discard_stdout(self):
        """Read the server's stdout to its end on a thread, so that no output can ever block the server."""
        self.stdout_reader = threading.Thread(target=_read_to_end, args=(self.process.stdout.fileno(),),
                                              name="liaison-server-stdout", daemon=True)
        self.stdout_reader.start()

    def reap(self, timeout):
        """Wait up to *timeout* seconds for the server to exit, and kill it if it does not."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def release(self):
        """Close this side of the pipes once the server has exited.

        A pipe still being read stays open (a process the server started may hold its other end):
        closing it under its reader would hang or make the reader read another file.
        """
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass  # what is left in its buffer cannot reach a server that has gone
        for pipe, reader in ((self.process.stdout, self.stdout_reader), (self.process.stderr, self._stderr_reader)):
            if reader is not None:
                reader.join(1)
            if reader is None or not reader.is_alive():
                pipe.close()


def _read_to_end(fd):
    """Read file descriptor *fd* until its end, discarding what comes."""
    while os.read(fd, 65536):
        pass


class _PipeChannel:
    """A spawned ``python -m liaison.stdio``'s stdin and stdout, one JSON message per line each way."""

    def __init__(self, server):
        self.server = server
        self.name = "{} (pid {})".format(server.command, server.process.pid)
        # Guards the server's stdin: one whole line at a time, and no write after it is closed.
        self._send_lock = threading.Lock()

    def send(self, text):
        with self._send_lock:
            try:
                self.server.process.stdin.write(text.encode("utf-8") + b"\n")
                self.server.process.stdin.flush()
            except (OSError, ValueError) as problem:
                raise ConnectionError("cannot send to {}: {}".format(self.name, problem))

    def receive(self):
        """The next line's text; ConnectionError once the server has written its stop marker or ended its output."""
        line = self.server.process.stdout.readline()
        if line.startswith(STOP_MARKER.encode() + b"@"):
            self.server.process.stdout.read()
            raise ConnectionError("{} stopped".format(self.name))
        if not line:
            raise ConnectionError("{} ended its output without its stop marker".format(self.name))
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError as problem:
            raise ConnectionError("{} sent a line that is not UTF-8: {}".format(self.name, problem))

    def close(self, timeout):
        """End the server's stdin, which stops it.

        A send blocked on a full pipe (the server stopped reading) holds the send lock; if it
        still does after *timeout* seconds, the server is killed, which ends that send.
        """
        if not self._send_lock.acquire(timeout=-1 if timeout is None else timeout):
            logger.warning("%s takes no input; killing it", self.name)
            self.server.process.kill()
            self._send_lock.acquire()
        try:
            self.server.process.stdin.close()
        except OSError:
            pass  # what is left in its buffer cannot reach a server that has gone
        finally:
            self._send_lock.release()

    def release(self):
        pass


class SpawnedClient(Client):
    """A :class:`Client` of a server it started; :meth:`close` also stops that server."""

    def __init__(self, server, channel, transport, **options):
        self.server = server
        self.process = server.process
        self.transport = transport
        super().__init__(channel, **options)
        if transport == "stdio":
            server.stdout_reader = self._reader

    def close(self):
        """Stop the server and wait for it to exit (killing it after the timeout), and close the connection.

        Over a websocket the server is stopped with ``run liaison.stop``; over stdio, by the end of its stdin.
        """
        if self.transport == "websocket" and self._reader.is_alive():
            try:
                self.call("run", ["liaison.stop"])
            except (ConnectionError, TimeoutError, RemoteError) as problem:
                logger.warning("could not stop the server at %s by command (%s); terminating it", self.url, problem)
                self.process.terminate()
        super().close()
        self.server.reap(self.timeout)
        self.server.release()


#: spawn()'s options for the server, with the command-line option each stands for.
_SERVER_OPTIONS = (("allow_import", "--allow-import"), ("allow_origin", "--allow-origin"), ("log_level", "--log-level"),
                   ("max_size", "--max-size"), ("max_clients", "--max-clients"))


def _server_arguments(options):
    """The command-line arguments of spawn()'s server *options*, by name; a list gives its option once per item."""
    arguments = []
    for name, flag in _SERVER_OPTIONS:
        value = options[name]
        for item in [] if value is None else [value] if isinstance(value, (str, int)) else value:
            arguments += [flag, str(item)]
    return arguments


def spawn(python=sys.executable, address=None, transport="websocket", token=None, timeout=DEFAULT_TIMEOUT,
          on_event=None, allow_import=None, allow_origin=None, log_level=None, max_size=None, max_clients=None,
          args=(), cwd=None, env=None):
    """Start a liaison server in a new process, wait for its start marker, and return a client to it
    once it has greeted the server.

    *transport* ``"websocket"`` runs ``python -m liaison.websocket address`` (default
    ``127.0.0.1:0``, a free port) and connects, handing *token* to the server in its environment
    (``LIAISON_TOKEN``), never on its command line; ``"stdio"`` runs ``python -m liaison.stdio`` and
    talks over its stdin and stdout (no address, no token: nothing but this process can reach it).
    The server's options: *allow_import* (module prefixes, ``--allow-import``), *allow_origin*
    (websocket only, ``--allow-origin``), *log_level* (``--log-level``), *max_size* (bytes,
    ``--max-size``), *max_clients* (websocket only, ``--max-clients``); a list gives its option once
    per item, a string is one. *args* are any other command-line arguments for it; *cwd* and *env*
    are its process's, as ``subprocess.Popen`` takes them (*env* replaces this process's
    environment). Returns a :class:`SpawnedClient` whose ``close()`` stops the server; *timeout*
    and *on_event* are as for :func:`connect`. The server's stderr is passed through to ours.
    Raises ``TimeoutError`` if no start marker comes within the timeout and ``RuntimeError`` if
    the server exits first, both quoting its stderr.
    """
    options = {"allow_import": allow_import, "allow_origin": allow_origin, "log_level": log_level,
               "max_size": max_size, "max_clients": max_clients}
    env = dict(os.environ if env is None else env)
    if transport == "stdio":
        if any(value is not None for value in (address, token, allow_origin, max_clients)):
            raise TypeError("spawn(transport='stdio') takes no address, token, allow_origin or max_clients: nothing "
                            "but this process can reach it")
        command = [python, "-m", "liaison.stdio"]
        stdin = subprocess.PIPE
    elif transport == "websocket":
        if token is not None:
            env["LIAISON_TOKEN"] = token
        command = [python, "-m", "liaison.websocket", "127.0.0.1:0" if address is None else address]
        stdin = subprocess.DEVNULL
    else:
        raise ValueError("transport must be 'websocket' or 'stdio', not {!r}".format(transport))
    server = _ServerProcess(command + _server_arguments(options) + list(args), env, stdin, cwd)
    client = None
    try:
        if transport == "stdio":
            server.check_marker(server.first_output(server.process.stdout.readline, timeout),
                                START_MARKER + "@stdio\n", timeout)
            channel = _PipeChannel(server)
        else:
            address = server.check_marker(server.first_output(
                functools.partial(os.read, server.process.stdout.fileno(), 4096), timeout), START_MARKER + "@", timeout)
            server.discard_stdout()
            channel = _WebsocketChannel("ws://" + address, token, timeout)
        client = SpawnedClient(server, channel, transport, timeout=timeout, on_event=on_event)
        client._greet()
        return client
    except BaseException:
        if server.process.poll() is None:
            server.process.kill()
        server.reap(timeout)
        if client is not None:
            client.channel.release()
        server.release()
        raise
