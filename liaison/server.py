"""What every transport shares: a Companion, turning one message into one reply, events, and
running commands on the host's chosen thread."""
import logging
import threading
import time

from . import protocol
from .companion import Companion

__all__ = ["Liaison", "ServerStopped"]

logger = logging.getLogger("liaison")


class ServerStopped(RuntimeError):
    """The server stopped before a command handed to the dispatcher could run."""


class Liaison:
    """Base class of servers: owns a :class:`Companion` and answers messages with replies.

    A transport subclass receives messages, passes each to :meth:`parse` and
    then :meth:`answer` (or both at once to :meth:`handle_message`), and sends
    back the bytes they return. The Companion's namespace holds the server as
    ``liaison``, so a client can ``run liaison.stop`` or ``run liaison.send``.

    *dispatcher*, if given, is called as ``dispatcher(fn)`` and must arrange for
    ``fn()`` to run soon on the host's chosen thread (``wx.CallAfter`` does);
    every command except ``ping`` then runs there while the client's thread
    waits for the result.
    """

    def __init__(self, companion=None, dispatcher=None):
        self.companion = Companion() if companion is None else companion
        self.companion.namespace["liaison"] = self
        self.dispatcher = dispatcher
        self._local = threading.local()
        self._pending_lock = threading.Lock()
        self._pending = set()
        self._refusing = False

    def parse(self, message):
        """The :class:`~liaison.protocol.Request` in *message*, or the ProtocolError saying why it is not one."""
        try:
            return protocol.parse(message)
        except protocol.ProtocolError as problem:
            logger.debug("bad request: %s", problem)
            return problem

    def is_urgent(self, request):
        """Whether *request* (from :meth:`parse`) is answered at once, ahead of commands still running: ``ping``."""
        return isinstance(request, protocol.Request) and request.command == "ping"

    def answer(self, request, client=None):
        """The UTF-8 bytes of the one reply to *request* (from :meth:`parse`), sent by *client*.

        While the command runs, :meth:`current_client` returns *client* on the
        thread running it.
        """
        if isinstance(request, protocol.ProtocolError):
            return protocol.error(request)
        started = time.perf_counter()
        try:
            result = self.run_command(request, client)
        except BaseException as problem:
            # SystemExit and KeyboardInterrupt from called code must not kill a client thread.
            logger.debug("%s failed after %.3f s: %r", request.command, time.perf_counter() - started, problem)
            return protocol.error(problem, request)
        logger.debug("%s took %.3f s", request.command, time.perf_counter() - started)
        # The parsed arguments may be as large as the message: free them before the reply is built.
        request.args = request.kwargs = None
        return protocol.response(result, request)

    def handle_message(self, message, client=None):
        """Answer one message (bytes or text) from *client* with the UTF-8 bytes of exactly one reply."""
        return self.answer(self.parse(message), client)

    def run_command(self, request, client):
        """Run *request* in the Companion, on the dispatcher's thread unless it is urgent or there is none."""
        def invoke():
            previous = getattr(self._local, "client", None)
            self._local.client = client
            try:
                return self.companion.dispatch(request.command, request.args, request.kwargs)
            finally:
                self._local.client = previous

        if self.dispatcher is None or self.is_urgent(request):
            return invoke()
        return self.call_on_dispatcher(invoke)

    def call_on_dispatcher(self, fn):
        """Hand *fn* to the dispatcher and wait for its result; raise :class:`ServerStopped` if stopped first."""
        call = _Call(fn)
        with self._pending_lock:
            if self._refusing:
                raise ServerStopped("the server is stopping; the command did not run")
            self._pending.add(call)
        try:
            self.dispatcher(call.run)
            return call.result()
        finally:
            with self._pending_lock:
                self._pending.discard(call)

    def cancel_pending(self):
        """Fail every command still waiting for the dispatcher, and refuse new ones: the server stops.

        The host's thread may be the one stopping the server, so it will not run them.
        """
        with self._pending_lock:
            self._refusing = True
            pending = list(self._pending)
        for call in pending:
            call.cancel()

    def current_client(self):
        """The client whose command is running on this thread, or None outside a command.

        Pass it to :meth:`send` to report progress to the caller only.
        """
        return getattr(self._local, "client", None)

    def send(self, data, client=None):
        """Push ``{"event": data, "tag": "event"}`` to *client*, or to every client; return how many got it.

        Safe from any thread, including from inside a command, where the event
        reaches the caller before the command's reply. *data* is encoded like a
        result; a client that is gone is skipped.
        """
        payload = protocol.event(data)
        clients = self.connected_clients() if client is None else [client]
        delivered = 0
        for target in clients:
            if self.deliver(target, payload):
                delivered += 1
        return delivered

    def connected_clients(self):
        """The clients connected now; transports implement this."""
        raise NotImplementedError

    def deliver(self, client, payload):
        """Send encoded *payload* to *client*; return whether it went. Transports implement this."""
        raise NotImplementedError

    def stop(self):
        """Stop serving; transports implement this."""
        raise NotImplementedError


class _Call:
    """A function handed to the dispatcher, with its outcome for the waiting client thread."""

    def __init__(self, fn):
        self.fn = fn
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.started = False
        self.value = None
        self.error = None

    def run(self):
        """Run the function (on the dispatcher's thread), unless the call was cancelled."""
        with self.lock:
            if self.done.is_set():
                return
            self.started = True
        try:
            self.value = self.fn()
        except BaseException as problem:
            self.error = problem
        finally:
            self.done.set()

    def cancel(self):
        """Give up on a call that has not started: the server stops."""
        with self.lock:
            if self.started:
                return
            self.error = ServerStopped("the server stopped before the command ran")
            self.done.set()

    def result(self):
        """Wait for the call to end; return its value or raise its exception."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value
