"""The websocket transport: :class:`WebsocketLiaison`, a threaded server on ``websocket-server``.

``websocket-server`` gives the socketserver skeleton and the handshake; the
subclasses here replace its frame handling (masking speed, fragments, binary
frames, size limits, UTF-8 checks, the close handshake, complete sends) and
make its client list safe to change from many threads.
"""
import base64
import hashlib
import logging
import queue
import socket
import threading
import time

from ..extras import require
from ..security import DEFAULT_MAX_CLIENTS, ImportPolicy, host_allowed, is_loopback, origin_allowed, \
    token_presented
from ..server import Liaison
from . import frames


def _import_websocket_server():
    """Import ``websocket_server`` and undo the ``logging.basicConfig()`` it runs on import."""
    root = logging.getLogger()
    before = list(root.handlers)
    websocket_server = require("websocket_server", "websocket-server", "websocket", "liaison.websocket")
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
    return websocket_server


websocket_server = _import_websocket_server()

__all__ = ["WebsocketLiaison", "LiaisonHandler", "DEFAULT_MAX_SIZE"]

logger = logging.getLogger("liaison")

#: Largest message a client may send, in bytes, unless the server is told otherwise.
DEFAULT_MAX_SIZE = 64 * 1024 * 1024

#: Seconds ``stop()`` waits for client threads (a command may never return), so a
#: process stops within 5 s of being told.
STOP_TIMEOUT = 4.0

#: Seconds a stopping server tries to send a close frame to a client that may have stopped reading.
CLOSE_TIMEOUT = 1.0

#: Seconds the server goes on reading (and discarding) after it closed a connection for a protocol error.
LINGER_TIMEOUT = 2.0

#: Seconds a client has to send its whole opening handshake before it is dropped.
HANDSHAKE_TIMEOUT = 10.0

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEADER_LINE = 8192
_MAX_HEADERS = 100
_SMALL_SEND = 64 * 1024


class HandshakeError(Exception):
    """An opening handshake the server refuses with HTTP *status*."""

    def __init__(self, status, reason, extra_headers=()):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra_headers = extra_headers


class LiaisonHandler(websocket_server.WebSocketHandler):
    """One client connection: the opening handshake, then messages in and replies out.

    Runs on its own thread, which reads; a worker thread runs the commands.
    Each complete message is answered by the server's
    :meth:`~liaison.server.Liaison.answer`; the reply goes back on this
    connection only.
    """

    def setup(self):
        super().setup()
        if self.request.family in (socket.AF_INET, socket.AF_INET6):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.thread = threading.current_thread()
        self.close_code = None
        self.peer_closed = False
        self.gone = False
        self._gone_lock = threading.Lock()
        self.connection_number = self.server.track(self)

    def handle(self):
        try:
            if self.handshake():
                self.server.add_client(self)
                try:
                    self.serve_messages()
                finally:
                    self.server.remove_client(self)
        except (frames.ConnectionClosed, OSError) as problem:
            logger.debug("connection from %s ended: %s", self.client_address, problem)

    def finish(self):
        self.server.untrack(self)
        try:
            super(websocket_server.WebSocketHandler, self).finish()
        except OSError:
            pass

    # The opening handshake.

    def handshake(self):
        """Read the HTTP upgrade request and answer it; return whether a websocket is open."""
        try:
            path, headers = self.read_request_in_time()
            self.check_request(path, headers)
        except HandshakeError as refusal:
            logger.warning("refused a connection from %s: %s %s",
                           self.client_address[0], refusal.status, refusal.reason)
            self.refuse(refusal)
            return False
        except socket.timeout:
            logger.warning("dropped a connection from %s: no complete handshake within %s s",
                           self.client_address[0], self.server.handshake_timeout)
            return False
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest())
        with self._gone_lock:  # a server stopping now must see an open websocket, to close it with 1001
            if not self.gone:
                self.send_raw(
                    b"HTTP/1.1 101 Switching Protocols\r\n"
                    b"Upgrade: websocket\r\n"
                    b"Connection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                self.handshake_done = self.valid_client = True
        return self.valid_client

    def read_request_in_time(self):
        """:meth:`read_http_request`, raising ``socket.timeout`` if the whole request has not
        arrived within the server's ``handshake_timeout``, so that a slow client cannot hold this thread."""
        self.handshake_deadline = time.monotonic() + self.server.handshake_timeout
        blocking = self.request.gettimeout()
        try:
            return self.read_http_request()
        finally:
            self.request.settimeout(blocking)

    def read_request_line(self):
        """One line of the request, at most one byte over the limit, by the handshake deadline
        however slowly its bytes come."""
        line = b""
        while len(line) <= _MAX_HEADER_LINE:
            remaining = self.handshake_deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("handshake deadline passed")
            self.request.settimeout(remaining)
            buffered = self.rfile.peek(1)[:_MAX_HEADER_LINE + 1 - len(line)]
            if not buffered:
                break
            end = buffered.find(b"\n")
            line += self.rfile.read(len(buffered) if end < 0 else end + 1)
            if end >= 0:
                break
        return line

    def read_http_request(self):
        """Read the request line and headers; return the path and a dict of lower-case headers."""
        line = self.read_request_line()
        if not line:
            raise frames.ConnectionClosed("connection closed before the handshake")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise HandshakeError(400, "malformed HTTP request line")
        method, path, _ = parts
        if method != "GET":
            raise HandshakeError(405, "a websocket handshake must use GET, not {}".format(method),
                                 (("Allow", "GET"),))
        headers = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self.read_request_line()
            if len(line) > _MAX_HEADER_LINE:
                raise HandshakeError(431, "header line too long")
            if not line:
                raise frames.ConnectionClosed("connection closed during the handshake")
            text = line.decode("latin-1").strip()
            if not text:
                return path, headers
            name, colon, value = text.partition(":")
            if not colon:
                raise HandshakeError(400, "malformed header line {!r}".format(text[:80]))
            name = name.strip().lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        raise HandshakeError(431, "too many header lines")

    def check_request(self, path, headers):
        """Raise :class:`HandshakeError` unless *headers* ask for a version 13 websocket."""
        self.check_access(path, headers)
        if "websocket" not in _tokens(headers.get("upgrade", "")):
            raise HandshakeError(426, "this is a websocket server; send Upgrade: websocket",
                                 (("Upgrade", "websocket"),))
        if "upgrade" not in _tokens(headers.get("connection", "")):
            raise HandshakeError(400, "missing Connection: Upgrade")
        if headers.get("sec-websocket-version") != "13":
            raise HandshakeError(426, "unsupported websocket version; use 13",
                                 (("Sec-WebSocket-Version", "13"),))
        try:
            key = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise HandshakeError(400, "missing or malformed Sec-WebSocket-Key")

    def check_access(self, path, headers):
        """Raise :class:`HandshakeError` unless there is room for this client and it may connect:
        its Host is this machine (against DNS rebinding; browsers always send one), its page's Origin is
        allowed, and it has the token."""
        server = self.server
        if self.connection_number > server.max_clients:
            raise HandshakeError(503, "too many connections (at most {}); try again later".format(server.max_clients))
        if "host" in headers and not host_allowed(headers["host"], server.host, server.server_address[0]):
            raise HandshakeError(403, "Host {!r} is not this server (DNS rebinding?); connect to localhost or "
                                      "the address the server was started on".format(headers["host"][:100]))
        origin = headers.get("origin")
        if not origin_allowed(origin, server.allow_origin):
            raise HandshakeError(403, "Origin {!r} is not allowed; start the server with --allow-origin "
                                      "ORIGIN to allow that page".format(origin[:100]))
        if server.token is not None and not token_presented(server.token, path, headers.get("authorization")):
            raise HandshakeError(401, "missing or wrong token; put it in the URL as ?token=... or send "
                                      "Authorization: Bearer ...", (("WWW-Authenticate", "Bearer"),))

    def refuse(self, refusal):
        """Answer a refused handshake with a plain-text HTTP error."""
        body = (refusal.reason + "\n").encode("utf-8")
        head = "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n".format(
            refusal.status, _REASONS.get(refusal.status, "Error"), len(body))
        for name, value in refusal.extra_headers:
            head += "{}: {}\r\n".format(name, value)
        head += "Connection: close\r\n\r\n"
        self.send_raw(head.encode("latin-1") + body)
        self.keep_alive = False

    # Messages.

    def serve_messages(self):
        """Read messages until the client closes, the server stops, or the protocol is broken.

        This thread keeps reading while a command runs, so pings (commands and
        frames) and close frames are answered at once; every other message goes,
        in order, to the connection's worker thread, which replies in order.
        """
        self.commands = queue.Queue()
        self.worker = threading.Thread(target=self.work, name="liaison-worker-{}:{}".format(*self.client_address[:2]),
                                       daemon=True)
        self.worker.start()
        try:
            problem = self.read_requests()
        finally:
            self.commands.put(None)
            self.worker.join()
        if problem is not None:
            self.send_close(problem.code, problem.reason)
            self.drain()

    def drain(self):
        """Discard what the client still sends after our close frame, until it closes or
        ``LINGER_TIMEOUT`` passes, so that it reads the close frame instead of a TCP reset."""
        try:
            self.request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_TIMEOUT
            while time.monotonic() < deadline:
                self.request.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.request.recv(1 << 16):
                    return
        except OSError:
            pass

    def read_requests(self):
        """Answer urgent requests and queue the others until the connection ends; return a FrameError that ended it."""
        while self.keep_alive:
            try:
                message = self.read_message()
            except frames.FrameError as problem:
                logger.info("closing connection from %s: %s %s", self.client_address, problem.code, problem.reason)
                self.keep_alive = False
                return problem
            if message is None:
                self.peer_closed = True
                return None
            request = self.server.parse(message)
            if self.server.is_urgent(request):
                self.send_message(self.server.answer(request, self))
            else:
                self.commands.put(request)
            # Hold no message while waiting for the next: it may be tens of megabytes.
            message = request = None
        return None

    def work(self):
        """Answer queued requests one by one (the worker thread) until the server closes the connection.

        After ``stop`` from one of them, reply and close. Requests a client sent
        before closing still run, though their replies cannot be sent.
        """
        while True:
            request = self.commands.get()
            if request is None or not self.reply_to(request):
                return
            request = None  # not held while waiting for the next: it may be tens of megabytes

    def reply_to(self, request):
        """Answer one queued request; return whether to go on with the next."""
        reply = self.server.answer(request, self)
        if self.gone:
            return False
        if not self.send_if_open(reply, "reply"):
            return True
        if self.close_code is not None:
            self.going_away()
            return False
        return True

    def read_message(self):
        """Read frames until a whole message arrives; return it, or None once the client closed.

        Pings are answered and pongs ignored on the way, even between fragments.
        Text messages come back as ``str`` (checked to be UTF-8), binary ones as ``bytes``.
        """
        max_size = self.server.max_size
        fragments = []
        size = 0
        opcode = None
        while True:
            self.wait_for_frame()
            fin, frame_opcode, payload = frames.read_frame(self.rfile, max_size - size)
            if frame_opcode == frames.PING:
                self.send_frame(frames.PONG, payload)
                continue
            if frame_opcode == frames.PONG:
                self.ping_sent = None
                continue
            if frame_opcode == frames.CLOSE:
                code = frames.parse_close(payload)
                self.send_frame(frames.CLOSE, b"" if code == 1005 else bytes(payload[:2]))
                self.keep_alive = False
                return None
            if frame_opcode == frames.CONTINUATION and opcode is None:
                raise frames.FrameError(1002, "continuation frame with no message to continue")
            if frame_opcode != frames.CONTINUATION and opcode is not None:
                raise frames.FrameError(1002, "new message started before the previous one ended")
            opcode = frame_opcode if opcode is None else opcode
            fragments.append(payload)
            size += len(payload)
            if fin:
                break
        data = fragments[0] if len(fragments) == 1 else b"".join(fragments)
        if opcode == frames.BINARY:
            return bytes(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise frames.FrameError(1007, "text message is not valid UTF-8")

    def wait_for_frame(self):
        """Block until the next frame starts to arrive, noting the wait for :meth:`keepalive`."""
        self.waiting_since = time.monotonic()
        try:
            self.rfile.peek(1)
        finally:
            self.waiting_since = None

    # Server pings, sent by the server's pinger thread.

    #: When the server started waiting for this client's next frame (None while it is busy).
    waiting_since = None
    #: When the unanswered ping was sent (None once a pong arrives).
    ping_sent = None

    def keepalive(self):
        """Ping the client, or drop it if it sent nothing since the last ping while the server waited.

        Clients are only judged while the reader waits for a frame, so a large
        message in transit never gets a client dropped. The reader keeps reading
        while a command runs, so a client must answer pings then too, as every
        websocket library does on its own.
        """
        waiting_since, ping_sent = self.waiting_since, self.ping_sent
        if not self.valid_client or waiting_since is None:
            return
        if ping_sent is not None and ping_sent >= waiting_since:
            logger.info("dropping the connection from %s: no answer to a ping within %s s",
                        self.client_address, self.server.ping_interval)
            self.keep_alive = False
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if self._send_lock.acquire(blocking=False):
            try:
                self.ping_sent = time.monotonic()
                self.request.sendall(frames.header(frames.PING, 0))
            except OSError:
                pass
            finally:
                self._send_lock.release()

    # Sending: every write goes through sendall under the connection's send lock.

    def send_raw(self, data):
        """Write *data* whole; concurrent senders never interleave."""
        with self._send_lock:
            self.request.sendall(data)

    def send_frame(self, opcode, payload):
        """Send one unfragmented frame."""
        head = frames.header(opcode, len(payload))
        with self._send_lock:
            if len(payload) < _SMALL_SEND:
                self.request.sendall(head + payload)
            else:
                self.request.sendall(head)
                self.request.sendall(payload)

    def send_message(self, message):
        """Send a text message (``str``, or ``bytes`` that are UTF-8)."""
        self.send_text(message)

    def send_text(self, message, opcode=frames.TEXT):
        """websocket-server's way to send a message with *opcode*; ``str`` is sent as UTF-8."""
        self.send_frame(opcode, message.encode("utf-8") if isinstance(message, str) else message)

    def send_pong(self, message):
        """Answer a ping with *message* as the payload."""
        self.send_text(message, frames.PONG)

    def send_if_open(self, payload, what):
        """Send *payload* unless the connection is closing or closed; return whether it went.

        *what* names the payload in the log when it could not be sent.
        """
        if self.peer_closed or self.gone:
            logger.debug("%s for %s not sent: the connection is closed", what, self.client_address)
            return False
        try:
            self.send_message(payload)
        except OSError as problem:
            logger.debug("%s for %s not sent: %s", what, self.client_address, problem)
            return False
        return True

    def send_close(self, status=1000, reason=b""):
        """Send a close frame, ignoring a connection that is already gone."""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        try:
            self.send_frame(frames.CLOSE, frames.close_payload(status, reason))
        except OSError:
            pass
        self.keep_alive = False

    def close_after_reply(self):
        """Close this connection once the command running on it has replied."""
        self.keep_alive = False
        self.close_code = 1001

    def send_close_promptly(self, code, reason):
        """Send a close frame, unless the client has stopped reading and it would not go within
        ``CLOSE_TIMEOUT`` seconds: a server that stops waits for no one."""
        payload = frames.close_payload(code, reason)
        if not self._send_lock.acquire(timeout=CLOSE_TIMEOUT):
            return
        try:
            self.request.settimeout(CLOSE_TIMEOUT)
            self.request.sendall(frames.header(frames.CLOSE, len(payload)) + payload)
        except OSError:
            pass
        finally:
            self._send_lock.release()

    def going_away(self):
        """Close this connection because the server stops (from any thread; once).

        Under the lock the handshake holds, so that a websocket opened meanwhile
        still gets its close frame before this thread lets the connection end.
        """
        with self._gone_lock:
            if self.gone:
                return
            self.gone = True
            self.close_code = 1001
            if self.valid_client and not self.peer_closed:
                self.send_close_promptly(1001, "server is stopping")
            self.keep_alive = False
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 405: "Method Not Allowed",
            426: "Upgrade Required", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def _tokens(value):
    """The lower-case comma-separated tokens of a header value."""
    return [token.strip().lower() for token in value.split(",")]


class WebsocketLiaison(Liaison, websocket_server.WebsocketServer):
    """A websocket server whose clients drive one shared :class:`~liaison.Companion`.

    Shaped like :mod:`socketserver`: ``serve_forever()`` blocks, ``shutdown()``
    makes it return (from any thread, or from inside a command), ``stop()``
    also closes every connection and releases the port, and ``with`` stops it
    on exit. Each client runs on its own thread; the Companion's lock keeps
    commands from running at once.

    Who may connect (see README.rst, "Security"): *allow_origin* adds browser
    origins to the loopback ones (``"*"``: all); *token*, if given, must be
    presented as ``?token=`` or ``Authorization: Bearer``; at most
    *max_clients* connections are open at once; a handshake must arrive within
    *handshake_timeout* seconds. *allow_import* sets the Companion's import
    policy (module prefixes targets may import; None leaves it as it is).

    A message over *max_size* bytes closes its connection with code 1009.
    With *ping_interval* (seconds), every client is pinged that often and
    dropped if it sent nothing since the last ping while the server waited.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host="127.0.0.1", port=0, companion=None, max_size=DEFAULT_MAX_SIZE, dispatcher=None,
                 allow_origin=(), token=None, allow_import=None, max_clients=DEFAULT_MAX_CLIENTS,
                 handshake_timeout=HANDSHAKE_TIMEOUT, ping_interval=None):
        Liaison.__init__(self, companion, dispatcher)
        if allow_import is not None:
            self.companion.resolver.import_policy = ImportPolicy(allow_import)
        self.max_size = max_size
        self.allow_origin = tuple(allow_origin)
        self.token = token or None
        self.max_clients = max_clients
        self.handshake_timeout = handshake_timeout
        self.ping_interval = ping_interval
        self._pinger_stop = threading.Event()
        self._clients_lock = threading.Lock()
        self._handlers = set()
        self._client_threads = []
        self._serve_lock = threading.Lock()
        self._serving = False
        self._serve_thread = None
        self._background = None
        self._stopping = False
        self._stop_lock = threading.Lock()
        self._closed = False
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        websocket_server.WebsocketServer.__init__(self, host, port)
        self.RequestHandlerClass = LiaisonHandler
        if not is_loopback(self.server_address[0]):
            logger.warning("listening on %s, which is reachable from the network: whoever connects can run "
                           "Python code in this process%s", self.server_address[0],
                           "" if self.token else "; set LIAISON_TOKEN or --token to require a token")

    # Serving and stopping.

    def serve_forever(self, poll_interval=0.1):
        """Accept clients until :meth:`shutdown` or :meth:`stop`; returns at once if already stopped."""
        with self._serve_lock:
            if self._stopping:
                return
            self._serving = True
            self._serve_thread = threading.current_thread()
        logger.info("listening on %s:%s", *self.server_address[:2])
        if self.ping_interval:
            threading.Thread(target=self.ping_clients, name="liaison-pinger", daemon=True).start()
        super().serve_forever(poll_interval)

    def serve_in_thread(self):
        """Serve on a new daemon thread and return that thread; the server already listens.

        :meth:`stop` (from any thread) ends it and waits for it.
        """
        thread = threading.Thread(target=self.serve_forever, name="liaison-server", daemon=True)
        self._background = thread
        thread.start()
        return thread

    def shutdown(self):
        """Make :meth:`serve_forever` return; safe from any thread and when it is not running.

        Called from inside a command, the calling client still gets its reply
        before its connection closes.
        """
        caller = self.current_client()
        if caller is not None:
            caller.close_after_reply()
        with self._serve_lock:
            self._stopping = True
            serving = self._serving
        if not serving:
            return
        if threading.current_thread() is self._serve_thread:
            self._BaseServer__shutdown_request = True
        else:
            super().shutdown()

    def stop(self):
        """Stop serving, close every client connection and release the port.

        Idempotent and thread-safe. Returns once the port is released and every
        client thread has ended, waiting at most ``STOP_TIMEOUT`` seconds since
        a command may never return. From inside a command, the calling client
        gets its reply before its connection closes, and client threads are not
        waited for: they may be waiting for the caller's command to end.
        """
        self.shutdown()
        self.server_close()
        background = self._background
        if background is not None and background is not threading.current_thread():
            background.join()

    def server_close(self):
        """Release the port and close every connection, then wait for client threads."""
        current = threading.current_thread()
        caller = self.current_client()
        with self._stop_lock:
            if not self._closed:
                self._closed = True
                self._stopping = True
                self._pinger_stop.set()
                super().server_close()
                for handler in self._tracked():
                    if handler is caller:
                        handler.close_after_reply()
                    elif handler.close_code is None:
                        handler.going_away()
        self.cancel_pending()
        if caller is not None:
            return  # Its command holds the Companion: commands of other clients cannot end before it does.
        with self._clients_lock:
            threads = [thread for thread in self._client_threads if thread is not current]
        deadline = time.monotonic() + STOP_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __exit__(self, *exc_info):
        self.stop()

    def ping_clients(self):
        """Every ``ping_interval`` seconds, ping each client and drop those that left the last ping unanswered."""
        while not self._pinger_stop.wait(self.ping_interval):
            for handler in self._tracked():
                handler.keepalive()

    # Connections, tracked from any thread.

    def process_request(self, request, client_address):
        """Serve a new connection on its own thread, which :meth:`stop` knows of from the moment it starts.

        The thread ends after the connection's worker thread, so waiting for it waits for both.
        """
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="liaison-client-{}:{}".format(*client_address[:2]), daemon=True)
        with self._clients_lock:
            self._client_threads = [known for known in self._client_threads if known.is_alive()]
            self._client_threads.append(thread)
            thread.start()

    def track(self, handler):
        """Remember a connection until it ends and return how many are open, this one included;
        one that starts while the server stops is closed at once."""
        with self._clients_lock:
            self._handlers.add(handler)
            count = len(self._handlers)
        if self._closed:
            handler.going_away()
        return count

    def untrack(self, handler):
        with self._clients_lock:
            self._handlers.discard(handler)

    def _tracked(self):
        with self._clients_lock:
            return list(self._handlers)

    def add_client(self, handler):
        """Register an open websocket; the ``new_client`` hook of websocket-server is called."""
        with self._clients_lock:
            self.id_counter += 1
            client = {"id": self.id_counter, "handler": handler, "address": handler.client_address}
            self.clients.append(client)
        logger.info("client %s connected from %s", client["id"], client["address"])
        self.new_client(client, self)

    def remove_client(self, handler):
        """Forget a closed websocket; the ``client_left`` hook of websocket-server is called."""
        with self._clients_lock:
            client = self.handler_to_client(handler)
            if client is not None:
                self.clients.remove(client)
        if client is not None:
            logger.info("client %s disconnected", client["id"])
            self.client_left(client, self)

    def connected_clients(self):
        """The handlers of the open websocket connections, for :meth:`send`."""
        with self._clients_lock:
            return [client["handler"] for client in self.clients]

    def deliver(self, client, payload):
        """Send *payload* to the connection *client* (a handler); False if it is closed."""
        return client.send_if_open(payload, "event")

    def _multicast(self, msg):
        with self._clients_lock:
            clients = list(self.clients)
        for client in clients:
            self._unicast(client, msg)
