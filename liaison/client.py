"""A blocking Python client: :func:`connect` to a running liaison, or :func:`spawn` one and connect.

Calls block until their own reply. One reader thread receives every message and hands
each reply to the caller waiting on its id, so one client can be shared between threads;
events the server pushes go to the ``on_event`` callback. Needs ``websocket-client``
(``pip install 'liaison-backend[client]'``).
"""
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from urllib.parse import quote

from .constants import START_MARKER
from .extras import require
from .remote import RemoteError, result

websocket = require("websocket", "websocket-client", "client", "liaison.client")

__all__ = ["Client", "SpawnedClient", "connect", "spawn", "RemoteError", "DEFAULT_TIMEOUT"]

logger = logging.getLogger("liaison")

#: Seconds to wait for a connection, a reply, or a spawned server's start marker.
DEFAULT_TIMEOUT = 30.0

#: Most of a spawned server's stderr quoted in an error, in characters.
_STDERR_QUOTE = 4000


#: What to do about a refused handshake, by HTTP status.
_REFUSAL_HINTS = {401: ": it needs its token (token=...)"}


def _at_least(args, count, usage):
    """Raise TypeError unless *args* (``self`` included) holds *count* positional arguments."""
    if len(args) < count:
        raise TypeError("{} takes at least {} positional arguments".format(usage, count - 1))


class _WebSocket(websocket.WebSocket):
    """websocket-client's connection, answering a close frame even when the server has already gone."""

    def send_close(self, *args, **kwargs):
        # The server may drop the socket right after its own close frame; the reply is then moot,
        # and an error here would hide the close code and reason from the reader.
        try:
            super().send_close(*args, **kwargs)
        except (websocket.WebSocketException, OSError):
            pass


class _Pending:
    """A call waiting for its reply; ``reply`` stays None if the connection ends first."""

    __slots__ = ("done", "reply")

    def __init__(self):
        self.done = threading.Event()
        self.reply = None


class Client:
    """A connection to a liaison with one blocking method per command.

    A method returns the response, or raises :class:`~liaison.RemoteError` for an error reply,
    ``TimeoutError`` when no reply comes within ``timeout`` seconds, and ``ConnectionError``
    once the connection has ended. *on_event* is called with the data of every event, on
    the reader thread: it must not wait for a reply from this client.
    """

    def __init__(self, url, token=None, timeout=DEFAULT_TIMEOUT, on_event=None):
        self.url = url
        self.timeout = timeout
        self.on_event = on_event
        header = []
        if token is not None:
            url += ("&" if "?" in url else "?") + "token=" + quote(token, safe="")
            header.append("Authorization: Bearer " + token)
        try:
            # No Origin header: this is not a browser.
            self.ws = websocket.create_connection(url, timeout=timeout, class_=_WebSocket, header=header,
                                                  suppress_origin=True, enable_multithread=True)
        except websocket.WebSocketBadStatusException as refusal:
            raise ConnectionRefusedError("{} refused the connection with HTTP {}{}".format(
                self.url, refusal.status_code, _REFUSAL_HINTS.get(refusal.status_code, "")))
        self.ws.settimeout(None)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending = {}
        self._ended = None
        self._reader = threading.Thread(target=self._read, name="liaison-client-reader", daemon=True)
        self._reader.start()

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

    # Requests and replies.

    def call(self, command, args=(), kwargs=None):
        """Send *command* with *args* and *kwargs*, wait for its reply and return the response."""
        pending = _Pending()
        with self._lock:
            if self._ended is not None:
                raise ConnectionError(self._ended)
            request_id = next(self._ids)
            self._pending[request_id] = pending
        message = {"command": {"command": command, "args": list(args), "kwargs": kwargs or {}}, "id": request_id}
        try:
            try:
                self.ws.send(json.dumps(message))
            except (websocket.WebSocketException, OSError) as problem:
                raise ConnectionError(self._ended or "cannot send to {}: {}".format(self.url, problem))
            if not pending.done.wait(self.timeout):
                raise TimeoutError("no reply to {} within {} s from {}".format(command, self.timeout, self.url))
        finally:
            with self._lock:
                self._pending.pop(request_id, None)
        if pending.reply is None:
            raise ConnectionError(self._ended)
        return result(pending.reply)

    def _read(self):
        """Hand every reply to its caller and every event to ``on_event`` until the connection ends."""
        reason = "connection to {} closed".format(self.url)
        try:
            while True:
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    reason = "{} closed the connection{}".format(self.url, _close_reason(data))
                    break
                self._dispatch(json.loads(data.decode("utf-8")))
        except (websocket.WebSocketException, OSError) as problem:
            reason = "connection to {} lost: {}".format(self.url, problem)
        except ValueError as problem:
            reason = "{} sent a message that is not UTF-8 JSON: {}".format(self.url, problem)
        finally:
            self._end(reason)

    def _dispatch(self, message):
        """Route one message from the server."""
        if message.get("tag") == "event":
            if self.on_event is not None:
                try:
                    self.on_event(message["event"])
                except Exception:
                    logger.exception("on_event failed for an event from %s", self.url)
            return
        request = message.get("evt")
        with self._lock:
            pending = self._pending.get(request.get("id")) if isinstance(request, dict) else None
        if pending is None:
            logger.warning("a reply from %s matches no waiting call: %.200s", self.url, message)
            return
        pending.reply = message
        pending.done.set()

    def _end(self, reason):
        """Mark the connection ended and release every waiting caller."""
        with self._lock:
            self._ended = reason
            pending, self._pending = list(self._pending.values()), {}
        for call in pending:
            call.done.set()

    def close(self):
        """Close the connection (with the closing handshake) and wait for the reader thread."""
        if self._reader.is_alive():
            self.ws.send_close()
            if self._reader is not threading.current_thread():
                self._reader.join(self.timeout)
        self.ws.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _close_reason(data):
    """`` (code N: reason)`` from a close frame's payload, or nothing when it has none."""
    if len(data) < 2:
        return ""
    reason = data[2:].decode("utf-8", "replace")
    return " (code {}{})".format(int.from_bytes(data[:2], "big"), ": " + reason if reason else "")


def connect(address, token=None, timeout=DEFAULT_TIMEOUT, on_event=None):
    """Connect to the liaison at *address* (``HOST:PORT`` or a ``ws://`` URL) and return a :class:`Client`.

    *token* is sent as ``?token=`` in the URL and as ``Authorization: Bearer``.
    """
    url = address if "://" in address else "ws://" + address
    return Client(url, token=token, timeout=timeout, on_event=on_event)


class SpawnedClient(Client):
    """A :class:`Client` of a server it started; :meth:`close` also stops that server."""

    def __init__(self, process, stderr, url, **options):
        self.process = process
        self.stderr = stderr
        super().__init__(url, **options)

    def close(self):
        """Stop the server (``run liaison.stop``), wait for it to exit, and close the connection."""
        try:
            self.call("run", ["liaison.stop"])
        except (ConnectionError, TimeoutError, RemoteError) as problem:
            logger.warning("could not stop the server at %s by command (%s); terminating it", self.url, problem)
            self.process.terminate()
        super().close()
        _reap(self.process, self.timeout)
        self.stderr.close()


def _reap(process, timeout):
    """Wait up to *timeout* seconds for *process* to exit, kill it if it does not, and close its stdout."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def _first_output(process, timeout):
    """The first chunk *process* writes to stdout (b"" if it exits first), or None after *timeout* seconds."""
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(os.read(process.stdout.fileno(), 4096)), daemon=True)
    reader.start()
    reader.join(timeout)
    return chunks[0] if chunks else None


def _tail(stderr):
    """The end of a spawned server's stderr so far, for error messages."""
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip()
    return text[-_STDERR_QUOTE:] or "(nothing)"


def spawn(python=sys.executable, address="127.0.0.1:0", **options):
    """Start ``python -m liaison.websocket address``, wait for its start marker, and connect.

    Returns a :class:`SpawnedClient` whose ``close()`` stops the server. *options* go to
    :func:`connect` (``token``, ``timeout``, ``on_event``); a token is also handed to the server
    in ``LIAISON_TOKEN``. Raises ``TimeoutError`` if no start marker comes within the timeout and
    ``RuntimeError`` if the server exits first, both quoting its stderr.
    """
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    env = dict(os.environ)
    if options.get("token") is not None:
        env["LIAISON_TOKEN"] = options["token"]
    command = [python, "-m", "liaison.websocket", address]
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env)
    try:
        chunk = _first_output(process, timeout)
        if chunk is None:
            raise TimeoutError("{} wrote no start marker within {} s; its stderr: {}".format(
                " ".join(command), timeout, _tail(stderr)))
        text = chunk.decode("utf-8", "replace")
        if not text:
            raise RuntimeError("{} exited with code {} before listening; its stderr: {}".format(
                " ".join(command), process.wait(timeout), _tail(stderr)))
        if not text.startswith(START_MARKER + "@"):
            raise RuntimeError("{} wrote {!r} instead of its start marker; its stderr: {}".format(
                " ".join(command), text[:200], _tail(stderr)))
        return SpawnedClient(process, stderr, "ws://" + text[len(START_MARKER) + 1:], **options)
    except BaseException:
        if process.poll() is None:
            process.kill()
        _reap(process, timeout)
        stderr.close()
        raise
