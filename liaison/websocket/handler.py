"""One client connection on its own thread: the opening handshake, then its messages until it ends."""
import socket
import threading
import time

from ..logs import logger
from . import access, frames, handshake
from .connection import Connection
from .wsserver import websocket_server

__all__ = ["LiaisonHandler", "LINGER_TIMEOUT"]

#: Seconds the server goes on reading (and discarding) after it closed a connection for a protocol error,
#: so that the client reads the close frame instead of a TCP reset.
LINGER_TIMEOUT = 2.0


class LiaisonHandler(websocket_server.WebSocketHandler):
    """One client connection, in the manner of :mod:`socketserver`: :meth:`setup`, :meth:`handle`, :meth:`finish`.

    Its thread performs the handshake, then reads messages and hands them to
    the client's :class:`~liaison.session.Session`, whose worker runs them.
    ``connection`` is the websocket; ``session`` the conversation once open.

    Methods that may be overridden: :meth:`setup`, :meth:`handle`, :meth:`finish`.
    """

    _unreachable_by_targets = True

    def setup(self):
        super().setup()
        if self.request.family in (socket.AF_INET, socket.AF_INET6):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.thread = threading.current_thread()
        self.session = None
        self.admitted = False
        self.connection = Connection(self.request, self.rfile, "client {}:{}".format(*self.client_address[:2]),
                                     self.server.max_size)
        self.server.track(self)

    def handle(self):
        server = self.server
        try:
            accepted = _check(server, self)
            if accepted is None:
                return
            # Registered before the client learns it is connected, so that a message pushed once it
            # knows (its connect() returned) reaches it.
            self.session = server.open_session(self.connection, self.connection.name)
            try:
                if not self.connection.open(accepted, server.send_timeout):
                    return
                self.handshake_done = self.valid_client = True
                server.add_client(self)
                _serve(server, self.connection, self.session)
            finally:
                server.remove_client(self)
                server.close_session(self.session)
                self.session.join()
        except (frames.ConnectionClosed, OSError) as problem:
            logger.debug("%s ended: %s", self.connection.name, problem)

    def finish(self):
        self.server.untrack(self)
        self.connection.shut()
        try:
            super(websocket_server.WebSocketHandler, self).finish()
        except OSError:
            pass


def _check(server, handler):
    """Read and check the opening handshake; return the response that opens the websocket, or None
    once the client has been refused or dropped."""
    connection = handler.connection
    try:
        path, headers = handshake.read_request(connection.sock, connection.rfile, server.handshake_timeout)
        handshake.check_upgrade(headers)
        access.check(server, path, headers)
        if not server.admit(handler):
            raise handshake.HandshakeError(503, "too many connections (at most {}); try again later".format(
                server.max_clients))
    except handshake.HandshakeError as refused:
        logger.warning("refused a connection from %s: %s %s", handler.client_address[0], refused.status,
                       refused.reason)
        connection.send_raw(handshake.refusal(refused), server.send_timeout)
        return None
    except socket.timeout:
        logger.warning("dropped a connection from %s: no complete handshake within %s s", handler.client_address[0],
                       server.handshake_timeout)
        return None
    return handshake.accept(headers)


def _serve(server, connection, session):
    """Hand the client's messages to its session until it closes, the server stops, or the protocol breaks."""
    while True:
        try:
            message = connection.read_message(server.send_timeout)
        except frames.FrameError as problem:
            # Fail the connection once what the client sent before the bad frame is answered.
            logger.info("closing %s: %s %s", connection.name, problem.code, problem.reason)
            session.finish(problem.code, problem.reason)
            session.closed.wait()
            _drain(connection.sock)
            return
        if message is None:
            return
        session.receive(message)
        message = None  # not held while waiting for the next: it may be tens of megabytes


def _drain(sock):
    """Discard what the client still sends after our close frame, until it closes or
    ``LINGER_TIMEOUT`` passes."""
    deadline = time.monotonic() + LINGER_TIMEOUT
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(1 << 16):
                return
    except OSError:
        pass
