"""The websocket server: :class:`WebsocketLiaison`, a threaded server built on ``websocket-server``."""
import collections
import errno
import selectors
import socket
import socketserver
import threading
import time

from ..logs import logger
from ..policy import ImportPolicy
from ..server import DEFAULT_MAX_SIZE, SEND_TIMEOUT, Liaison
from .access import DEFAULT_MAX_CLIENTS, is_loopback
from .handler import LiaisonHandler
from .wsserver import websocket_server

__all__ = ["WebsocketLiaison", "DEFAULT_MAX_SIZE", "DEFAULT_PORT", "STOP_TIMEOUT", "HANDSHAKE_TIMEOUT",
           "MAX_HANDSHAKES"]

#: The port liaison-py listens on by default.
DEFAULT_PORT = 8001

#: Seconds ``stop()`` waits for client threads (a command may never return), so a
#: process stops within 5 s of being told.
STOP_TIMEOUT = 4.0

#: Seconds a stopping server gives each connection (all at once) to take its close frame.
CLOSE_TIMEOUT = 1.0

#: Seconds a client has to send its whole opening handshake before it is dropped.
HANDSHAKE_TIMEOUT = 5.0

#: Connections that may be in their opening handshake at once; a new one beyond that
#: drops the one that has waited longest, so silent sockets cannot lock clients out.
MAX_HANDSHAKES = 64

#: Tries at finding one free port on every address of a name such as ``localhost``.
_BIND_TRIES = 20


class WebsocketLiaison(Liaison, websocket_server.WebsocketServer):
    """A websocket server whose clients drive one shared :class:`~liaison.Companion`.

    Shaped like :mod:`socketserver`: each client is served on its own thread
    by an instance of :attr:`RequestHandlerClass`; one lock-guarded Companion
    runs the commands. A host name (``localhost``) is served on every loopback
    address it stands for, IPv4 and IPv6; *port* may be a number or its text.

    Who may connect (see README.rst, "Security"): *allow_origin* adds browser
    origins to the loopback ones (``"*"``: all); *token*, if given, must be
    presented as ``?token=`` or ``Authorization: Bearer``; at most
    *max_clients* websockets are open at once, and at most *max_handshakes*
    connections are in their opening handshake, each for at most
    *handshake_timeout* seconds. *allow_import* sets the Companion's import
    policy (module prefixes targets may import; None leaves it as it is).

    A message over *max_size* bytes closes its connection with code 1009. A
    client that has not taken a whole message within *send_timeout* seconds
    is dropped (close code 1008 if it fits). With *ping_interval* (seconds),
    every client is pinged that often and dropped if it sent nothing since the
    last ping while the server waited for it (never while it waits for one of
    its commands).

    Methods for the caller: :meth:`serve_forever`, :meth:`serve_in_thread`,
    :meth:`start` (serve between the lifecycle markers, as liaison-py does),
    :meth:`shutdown`, :meth:`stop`, :meth:`send`, :meth:`current_client`,
    :meth:`connected_clients`; ``with`` stops the server on exit.

    Methods that may be overridden: :meth:`new_client` and
    :meth:`client_left` (websocket-server's hooks), :meth:`run_command`,
    and :attr:`RequestHandlerClass`.
    """

    RequestHandlerClass = LiaisonHandler
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host="localhost", port=DEFAULT_PORT, companion=None, max_size=DEFAULT_MAX_SIZE,
                 dispatcher=None, allow_origin=(), token=None, allow_import=None, max_clients=DEFAULT_MAX_CLIENTS,
                 handshake_timeout=HANDSHAKE_TIMEOUT, ping_interval=None, send_timeout=SEND_TIMEOUT,
                 max_handshakes=MAX_HANDSHAKES):
        if token is not None and not token:
            raise ValueError("an empty token would let anyone connect; give a token, or None for no token")
        Liaison.__init__(self, companion, dispatcher, send_timeout)
        if allow_import is not None:
            self.companion.resolver.import_policy = ImportPolicy(allow_import)
        self.max_size = max_size
        self.allow_origin = tuple(allow_origin)
        self.token = token
        self.max_clients = max_clients
        self.max_handshakes = max_handshakes
        self.handshake_timeout = handshake_timeout
        self.ping_interval = ping_interval
        # websocket-server's attributes, for code written against its API.
        self.host = host
        self.key = self.cert = None
        self.clients = []
        self.id_counter = 0
        self.thread = None
        self._deny_clients = False
        # Guarded by Liaison._lock: every connection's handler, those still in their handshake (oldest
        # first), how many websockets are open, and the threads serving connections.
        self._handlers = set()
        self._handshaking = collections.OrderedDict()
        self._admitted = 0
        self._client_threads = []
        # Guards the serving state below, so that shutdown() and serve_forever() agree.
        self._serve_lock = threading.Lock()
        self._serving = False
        self._stopping = False
        self._serve_thread = None
        # Guards ``_closed``: the listening sockets and the connections are closed once.
        self._stop_lock = threading.Lock()
        self._closed = False
        self._pinger_stop = threading.Event()
        self._sockets = _listen(host, _port(port), self.request_queue_size)
        self.socket = self._sockets[0]
        self.address_family = self.socket.family
        # BaseServer keeps the handler class and the shutdown flags; binding is done above.
        socketserver.BaseServer.__init__(self, self.socket.getsockname(), self.RequestHandlerClass)
        self.port = self.server_address[1]
        if not is_loopback(self.server_address[0]):
            logger.warning("listening on %s, which is reachable from the network: whoever connects can run "
                           "Python code in this process%s", self.server_address[0],
                           "" if self.token else "; set LIAISON_TOKEN or --token to require a token")

    @property
    def addresses(self):
        """Every ``(host, port)`` the server listens on."""
        return [sock.getsockname()[:2] for sock in self._sockets]

    # Serving and stopping.

    def serve_forever(self, poll_interval=0.1):
        """Accept clients until :meth:`shutdown` or :meth:`stop`; returns at once if already stopped."""
        with self._serve_lock:
            if self._stopping:
                return
            self._serving = True
            self._serve_thread = threading.current_thread()
        logger.info("listening on %s", ", ".join("{}:{}".format(*address) for address in self.addresses))
        if self.ping_interval:
            threading.Thread(target=self._ping_clients, name="liaison-pinger", daemon=True).start()
        self._BaseServer__is_shut_down.clear()
        try:
            with _Selector() as selector:
                for sock in self._sockets:
                    selector.register(sock, selectors.EVENT_READ)
                while not self._BaseServer__shutdown_request:
                    ready = selector.select(poll_interval)
                    if self._BaseServer__shutdown_request:
                        break
                    for key, _ in ready:
                        self._accept(key.fileobj)
                    self.service_actions()
        finally:
            self._BaseServer__shutdown_request = False
            self._BaseServer__is_shut_down.set()

    def start(self):
        """Serve until :meth:`stop`, as liaison-py's ``start()`` does: between the START and STOP markers on
        stdout, with every command run on the calling thread."""
        from .. import cli
        from ..dispatch import MainThreadDispatcher
        address = cli.format_address(self.host, self.port)
        calling_thread = MainThreadDispatcher()
        self.executor = calling_thread
        cli.write_marker(cli.START_MARKER, address)
        try:
            self.serve_in_thread(then=calling_thread.stop)
            calling_thread.run()
        finally:
            self.stop()
            cli.write_marker(cli.STOP_MARKER, address)

    def run_forever(self, threaded=False):
        """websocket-server's way to serve: on a new thread if *threaded*, else until stopped."""
        if threaded:
            self.thread = self.serve_in_thread()
        else:
            self.thread = threading.current_thread()
            self.serve_forever()

    def shutdown(self):
        """Make :meth:`serve_forever` return; safe from any thread and when it is not running.

        Called from inside a command, the calling client still gets its reply
        before its connection closes.
        """
        caller = self._caller()
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
        """Release the port and close every connection (all at once), then wait for client threads."""
        started = time.monotonic()
        caller = self._caller()
        with self._stop_lock:
            first = not self._closed
            self._closed = self._stopping = True
        if first:
            self._pinger_stop.set()
            self.deadlines.stop()
            for sock in self._sockets:
                sock.close()
            self._close_connections(1001, "server is stopping", caller)
        self.cancel_pending()
        if caller is not None:
            return  # Its command holds the Companion: commands of other clients cannot end before it does.
        current = threading.current_thread()
        with self._lock:
            threads = [thread for thread in self._client_threads if thread is not current]
        for thread in threads:
            thread.join(max(0.0, started + STOP_TIMEOUT - time.monotonic()))

    def __exit__(self, *exc_info):
        self.stop()

    def _close_connections(self, code, reason, caller=None):
        """Close every connection with *code*, each on its own thread, waiting at most ``CLOSE_TIMEOUT``."""
        closers = []
        for handler in self._tracked():
            if handler.session is not None and handler.session is caller:
                caller.close_after_reply()
                continue
            closer = threading.Thread(target=_close, args=(handler, code, reason), daemon=True)
            try:
                closer.start()
            except RuntimeError:  # no thread to spare: shut it without its close frame rather than wait on it
                if handler.session is not None:
                    handler.session.end()
                handler.connection.abort("no thread to close it with ({})".format(code))
                continue
            closers.append(closer)
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for closer in closers:
            closer.join(max(0.0, deadline - time.monotonic()))

    def _ping_clients(self):
        """Every ``ping_interval`` seconds, ping each client and drop those that left the last ping unanswered."""
        while not self._pinger_stop.wait(self.ping_interval):
            for handler in self._tracked():
                session = handler.session
                handler.connection.keepalive(session is not None and session.busy)

    # Connections, tracked from any thread.

    def _accept(self, sock):
        """Accept one connection on listening socket *sock* and serve it."""
        try:
            request, client_address = sock.accept()
        except OSError:
            return
        if not self.verify_request(request, client_address):
            self.shutdown_request(request)
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def process_request(self, request, client_address):
        """Serve a new connection on its own thread, which :meth:`stop` knows of from the moment it starts."""
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="liaison-client-{}:{}".format(*client_address[:2]), daemon=True)
        with self._lock:
            self._client_threads = [known for known in self._client_threads if known.is_alive()]
            try:
                thread.start()
            except RuntimeError as problem:
                logger.error("cannot serve %s:%s: %s", client_address[0], client_address[1], problem)
                self.shutdown_request(request)
                return
            self._client_threads.append(thread)

    def handle_error(self, request, client_address):
        """An unexpected error while serving a connection: log it on the ``liaison`` logger."""
        logger.exception("unexpected error serving %s", client_address)

    def track(self, handler):
        """Remember a new connection until :meth:`untrack`; one beyond ``max_handshakes`` in their handshake
        drops the oldest of those, and one that starts while the server stops is closed at once."""
        with self._lock:
            self._handlers.add(handler)
            self._handshaking[handler] = None
            evicted = self._handshaking.popitem(last=False)[0] if len(self._handshaking) > self.max_handshakes \
                else None
        if evicted is not None:
            logger.warning("dropped %s: over %d connections in their handshake", evicted.connection.name,
                           self.max_handshakes)
            evicted.connection.shut()
        if self._closed:
            handler.connection.shut()

    def admit(self, handler):
        """Count a connection whose handshake passed as an open websocket; False if there is no room."""
        with self._lock:
            self._handshaking.pop(handler, None)
            if self._admitted >= self.max_clients or self._deny_clients:
                return False
            self._admitted += 1
            handler.admitted = True
            return True

    def untrack(self, handler):
        """Forget a connection that ended."""
        with self._lock:
            self._handlers.discard(handler)
            self._handshaking.pop(handler, None)
            if handler.admitted:
                self._admitted -= 1
                handler.admitted = False

    def _tracked(self):
        with self._lock:
            return list(self._handlers)

    # websocket-server's client list and hooks.

    def add_client(self, handler):
        """Add an open websocket to :attr:`clients` and call the ``new_client`` hook."""
        with self._lock:
            self.id_counter += 1
            client = {"id": self.id_counter, "handler": handler, "address": handler.client_address}
            self.clients.append(client)
        logger.info("client %s connected from %s", client["id"], client["address"])
        _call_hook(self.new_client, client, self)

    def remove_client(self, handler):
        """Remove a closed websocket from :attr:`clients` and call the ``client_left`` hook."""
        with self._lock:
            client = self.handler_to_client(handler)
            if client is not None:
                self.clients.remove(client)
        if client is not None:
            logger.info("client %s disconnected", client["id"])
            _call_hook(self.client_left, client, self)

    def set_fn_message_received(self, fn):
        """Refused: every message is a command for the Companion."""
        raise TypeError("WebsocketLiaison answers every message with its Companion; add a command instead: "
                        "server.companion.commands['name'] = function")

    def send_message(self, client, msg):
        """websocket-server's send to one client (a dict from :attr:`clients`): :meth:`send` with that client."""
        return self.send(msg, client=client["handler"].session.client)

    def send_message_to_all(self, msg):
        """websocket-server's send to every client: :meth:`send`."""
        return self.send(msg)

    def deny_new_connections(self, status=1013, reason="not accepting connections"):
        """Refuse new connections (HTTP 503) until :meth:`allow_new_connections`."""
        self._deny_clients = {"status": status, "reason": reason}

    def allow_new_connections(self):
        self._deny_clients = False

    def disconnect_clients_gracefully(self, status=1000, reason=""):
        """Close every connection with *status*; the server goes on serving."""
        self._close_connections(status, reason)

    def disconnect_clients_abruptly(self):
        """Shut every connection without a close frame; the server goes on serving."""
        for handler in self._tracked():
            handler.connection.shut()

    def shutdown_gracefully(self, status=1000, reason=""):
        """Close every connection with *status*, then :meth:`stop`."""
        self.disconnect_clients_gracefully(status, reason)
        self.stop()

    def shutdown_abruptly(self):
        """Shut every connection without a close frame, then :meth:`stop`."""
        self.disconnect_clients_abruptly()
        self.stop()


def _close(handler, code, reason):
    """Drop a connection's queued requests and close it with *code*."""
    if handler.session is not None:
        handler.session.end()
    handler.connection.close(code, reason, CLOSE_TIMEOUT)


def _call_hook(hook, client, server):
    """Call a websocket-server hook; an exception in it is logged, never left to break the connection."""
    try:
        hook(client, server)
    except Exception:
        logger.exception("the %s hook raised", getattr(hook, "__name__", "client"))


def _port(port):
    """*port* (a number or its text, as liaison-py takes it) as an int, or ValueError."""
    text = str(port).strip()
    if isinstance(port, bool) or not text.isdigit() or int(text) > 65535:
        raise ValueError("port must be a whole number from 0 to 65535, not {!r}".format(port))
    return int(text)


def _addresses(host, port):
    """``(family, sockaddr)`` for every address *host* stands for; ``localhost`` is every loopback address."""
    found = []
    names = [host]
    if host.lower().rstrip(".") == "localhost":
        names = ["127.0.0.1", "::1"] + names
    for name in names:
        try:
            infos = socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        except (socket.gaierror, UnicodeError):
            if name is host:
                raise
            continue
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr[0]) not in \
                    [(known[0], known[1][0]) for known in found]:
                found.append((family, sockaddr))
    return found


def _listen(host, port, backlog):
    """Listening sockets on every address of *host*, all on one port (a free one if *port* is 0)."""
    addresses = _addresses(host, port)
    for attempt in range(_BIND_TRIES):
        sockets = []
        chosen = port
        try:
            for family, sockaddr in addresses:
                sock = _bind(family, (sockaddr[0], chosen) + tuple(sockaddr[2:]), backlog)
                if sock is None:
                    continue
                sockets.append(sock)
                chosen = sock.getsockname()[1]
        except OSError as problem:
            for sock in sockets:
                sock.close()
            if problem.errno == errno.EADDRINUSE and port == 0 and attempt + 1 < _BIND_TRIES:
                continue
            raise
        if not sockets:
            raise OSError(errno.EADDRNOTAVAIL, "no address of {!r} can be listened on".format(host))
        return sockets


def _bind(family, sockaddr, backlog):
    """A socket listening on *sockaddr*, or None if this machine has no such address (no IPv6, say)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
        return sock
    except OSError as problem:
        sock.close()
        if problem.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return None
        raise


_Selector = selectors.PollSelector if hasattr(selectors, "PollSelector") else selectors.SelectSelector
