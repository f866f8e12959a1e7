"""What every transport's server shares: a Companion, one message to one reply, the registry of
client sessions, pushed messages with deadlines, and running commands on the host's chosen thread."""
import threading
import time

from . import __version__, protocol
from .companion import CommandError, Companion
from .deadlines import Deadlines
from .interrupt import Interruptible, call_exposed, shielded
from .logs import logger
from .output import OUTPUT_BATCH_BYTES, OUTPUT_BATCH_SECONDS, PROGRESS_SECONDS, Report
from .session import FEATURES, Client, Session

__all__ = ["Liaison", "ServerStopped", "SEND_TIMEOUT", "DEFAULT_MAX_SIZE"]

#: Largest message a client may send, in bytes, unless the server is told otherwise.
DEFAULT_MAX_SIZE = 64 * 1024 * 1024

#: Seconds a client has to take a whole message (reply or push) before it is dropped.
SEND_TIMEOUT = 10.0

#: What ``hello`` says of the protocol: 2 is liaison-py's envelope plus hello, cancel and deadlines.
PROTOCOL_VERSION = 2


class ServerStopped(RuntimeError):
    """The server stopped before a command handed to the dispatcher could run."""


class Liaison:
    """Base class of servers: owns a :class:`Companion` and answers each client's messages.

    A transport opens a :class:`~liaison.session.Session` per client with
    :meth:`open_session`, hands it every message, and closes it with
    :meth:`close_session`. The Companion's namespace holds the server as
    ``liaison``, so a client can ``run liaison.stop`` or ``run liaison.send``.

    *dispatcher*, if given, is called as ``dispatcher(fn)`` and must arrange for
    ``fn()`` to run soon on the host's chosen thread (``wx.CallAfter`` does);
    every command except the urgent ones then runs there while the client's
    worker thread waits for the result. A client that cannot take a message
    within *send_timeout* seconds is dropped.

    Methods for the caller: :meth:`send`, :meth:`current_client`,
    :meth:`connected_clients`, :meth:`handle_message`, :meth:`serve_in_thread`,
    :meth:`stop`. A
    client is known to commands and the host only as a
    :class:`~liaison.session.Client` (a name to send to): no client's command
    can reach another client's conversation.

    Methods for transports: :meth:`open_session`, :meth:`close_session`,
    :meth:`parse`, :meth:`is_urgent`, :meth:`answer`.

    Methods that may be overridden: :meth:`run_command`, :meth:`stop`.
    """

    #: The class of the conversation with each client.
    session_class = Session

    #: None, or an object whose ``submit(fn)`` runs ``fn()`` soon on one thread of the host's, which then
    #: runs whole requests (command, reply and all) instead of the sessions' worker threads: the CLI's
    #: main thread, saving two thread switches per request. Set it before serving.
    executor = None

    #: Largest message a client may send, in bytes; transports set their own.
    max_size = DEFAULT_MAX_SIZE

    #: None, or a function that the thread which ran a (not urgent) command calls right after it, before
    #: its reply goes: the CLI takes back the signals that served code took.
    after_command = None

    def __init__(self, companion=None, dispatcher=None, send_timeout=SEND_TIMEOUT):
        self.companion = Companion() if companion is None else companion
        self.companion.namespace["liaison"] = self
        self.dispatcher = dispatcher
        self.send_timeout = send_timeout
        #: The one thread that runs every request deadline of this server's clients.
        self.deadlines = Deadlines()
        self._local = threading.local()
        # Guards the session registry and the dispatcher's pending calls. Bookkeeping only;
        # taken after every other lock (see liaison/session.py).
        self._lock = threading.Lock()
        self._sessions = []
        self._pending = set()
        self._refusing = False
        self._background = None  # the thread serve_in_thread started, once it runs
        self.companion.commands.add("cancel", self.cancel, lock=False, substitute=False, urgent=True, exposed=False)
        self.companion.commands.add("hello", self.hello, lock=False, substitute=False, urgent=True, exposed=False)
        self.companion.commands.add("more", self.more, lock=False, substitute=False, urgent=True, exposed=False)

    # Sessions.

    def open_session(self, connection, name):
        """Start and register the conversation with a new client, whose messages *connection* carries."""
        session = self.session_class(self, connection, name)
        session.start()
        with self._lock:
            self._sessions.append(session)
        return session

    def close_session(self, session):
        """The client is gone: its queued requests are dropped and it is forgotten."""
        session.end()
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)

    def connected_clients(self):
        """The clients connected now, each as a :class:`~liaison.session.Client` to pass to :meth:`send`."""
        with self._lock:
            return [session.client for session in self._sessions]

    def _sessions_now(self):
        with self._lock:
            return list(self._sessions)

    # One message, one reply.

    def parse(self, message):
        """The :class:`~liaison.protocol.Request` in *message*, or the ProtocolError saying why it is not one."""
        try:
            return protocol.parse(message)
        except protocol.ProtocolError as problem:
            logger.debug("bad request: %s", problem)
            return problem

    def is_urgent(self, request):
        """Whether *request* (from :meth:`parse`) is answered at once, ahead of commands still running."""
        return isinstance(request, protocol.Request) and self.companion.is_urgent(request.command)

    def answer(self, request, session=None, interruptible=None):
        """The UTF-8 bytes of the one reply to *request* (from :meth:`parse`), sent by the client of
        *session*: a large reply as a list of parts to send in order.

        While the command runs, :meth:`current_client` returns that client on
        the thread running it; *interruptible*, if given, lets it be cancelled.
        """
        if isinstance(request, protocol.ProtocolError):
            return protocol.error(request)
        report = self._report(request, session)
        started = time.perf_counter()
        try:
            result = self.run_command(request, session, interruptible, report)
        except BaseException as problem:
            # SystemExit, KeyboardInterrupt and Cancelled from called code must not kill a client thread.
            logger.debug("%s failed after %.3f s: %r", request.command, time.perf_counter() - started, problem)
            return protocol.error(problem, request)
        logger.debug("%s took %.3f s", request.command, time.perf_counter() - started)
        # The parsed arguments may be as large as the message: free them before the reply is built.
        request.args = request.kwargs = None
        if request.stream is not None and session is not None and self.companion.is_iterator(result):
            return Streaming(result, request, report)
        return protocol.response(result, request)

    def _report(self, request, session):
        """The :class:`~liaison.output.Report` of *request*'s output and progress, or None if its client
        asked for neither (for this request, or for its connection in ``hello``)."""
        if session is None or self.is_urgent(request):
            return None
        capture = request.output
        if capture is None:
            capture = session.log_level if "output" in session.features else None
        elif capture is False:
            capture = None
        progress = request.progress if request.progress is not None else "progress" in session.features
        if capture is None and not progress:
            return None
        return Report(session, request.id, capture, progress, self.deadlines)

    def handle_message(self, message, client=None):
        """Answer one message (bytes or text) from *client* (a :class:`~liaison.session.Client`, or None)
        with the UTF-8 bytes of exactly one reply.

        A command may pass only its own client: a ``cancel`` it forged for another would reach that
        client's requests.
        """
        session = client._session if isinstance(client, Client) else None
        caller = self._caller()
        if caller is not None and session not in (None, caller):
            raise CommandError("handle_message: a command may pass only its own client, "
                               "liaison.current_client(), or none")
        return protocol.joined(self.answer(self.parse(message), session))

    def run_command(self, request, session, interruptible=None, report=None):
        """Run *request* in the Companion, on the dispatcher's thread unless it is urgent or there is none.

        An iterator result is left as it is if the request asks to stream it
        (see :class:`Streaming`), else read into a list. *report*, if given,
        takes the command's output and progress.
        """
        stream = request.stream is not None and session is not None
        return self._on_command_thread(
            lambda: self.companion.dispatch(request.command, request.args, request.kwargs, stream=stream),
            session, interruptible, report, self.is_urgent(request))

    def _on_command_thread(self, fn, session, interruptible, report, urgent=False):
        """Call *fn* as a command of *session*'s client: on the dispatcher's thread unless urgent or none,
        interruptible, with :meth:`current_client` and *report* attached to that thread."""
        def invoke():
            previous = getattr(self._local, "session", None)
            self._local.session = session
            if report is not None:
                report.start()
            try:
                return fn()
            finally:
                if report is not None:
                    report.finish()
                self._local.session = previous
                if self.after_command is not None and not urgent:
                    self.after_command()

        if self.dispatcher is not None and not urgent and not self.companion.lock.held():
            # From inside a command, the host's thread is busy with it: re-entry is refused in place instead.
            return self.call_on_dispatcher(invoke, interruptible)
        if interruptible is None:
            return invoke()
        return interruptible.run(invoke)

    def advance(self, streaming, count, session, interruptible):
        """Send up to *count* more items of a streamed result to *session*'s client, reading them from its
        iterator under the Companion lock, as the command did; return whether the iterator ended."""
        def step():
            with self.companion.lock:
                for _ in range(count):
                    try:
                        item = call_exposed(next, streaming.iterator)
                    except StopIteration:
                        return True
                    if streaming.report is not None:
                        streaming.report.flush()
                    session.stream_item(streaming, item)
                return False

        return self._on_command_thread(step, session, interruptible, streaming.report)

    def end_stream(self, streaming, session, interruptible):
        """Close a streamed result's iterator (a generator's ``finally`` runs), as called code, under the lock."""
        close = getattr(streaming.iterator, "close", None)
        if close is None:
            return

        def step():
            with self.companion.lock:
                call_exposed(close)

        self._on_command_thread(step, session, interruptible, streaming.report)

    def call_on_dispatcher(self, fn, interruptible=None):
        """Hand *fn* to the dispatcher and wait for its result; raise :class:`ServerStopped` if stopped first."""
        call = _Call(fn, interruptible or Interruptible())
        with self._lock:
            if self._refusing:
                raise ServerStopped("the server is stopping; the command did not run")
            self._pending.add(call)
        try:
            self.dispatcher(call.run)
            return call.result()
        finally:
            with self._lock:
                self._pending.discard(call)

    def cancel_pending(self, interrupt=False):
        """Fail every command still waiting for the dispatcher, and refuse new ones: the server stops.

        The host's thread may be the one stopping the server, so it will not run
        them. With *interrupt*, the commands running now are interrupted too.
        """
        with self._lock:
            self._refusing = True
            pending = list(self._pending)
        for call in pending:
            call.cancel()
        for session in self._sessions_now() if interrupt else ():
            session.interrupt_running()

    def cancel(self, id):
        """The ``cancel`` command: cancel the calling client's request *id*, queued or running.

        Returns ``"dequeued"`` (it will not run), ``"interrupted"`` (``Cancelled``
        was raised in it), ``"finished"`` or ``"unknown"``; either way the
        request gets its one reply, an error of type ``Cancelled`` unless it had
        finished. A client can only cancel its own requests.
        """
        session = self._caller()
        if session is None:
            raise CommandError("cancel: only a client can cancel, and only its own requests")
        return session.cancel(id)

    def hello(self, features=(), log_level=None):
        """The ``hello`` command: take the features the client asks for; say what this server is and offers.

        Returns ``{"protocol", "server", "version", "features" (those now on for
        this client), "available", "limits"}``. Features: ``interleave``
        (pushed messages as they are made, even before the reply of the
        client's running command), ``output`` (each command's output, at
        *log_level* and above for logging records), ``progress``, ``stream``
        (streamed results). A client that never says hello gets what
        liaison-py sent. Urgent: answered at once, for the messages sent after
        its reply.
        """
        session = self._caller()
        if session is None:
            raise CommandError("hello: only a client can say hello")
        if isinstance(features, str) or not isinstance(features, (list, tuple)) or \
                not all(isinstance(feature, str) for feature in features):
            raise CommandError("hello: features must be a list of names, such as [\"interleave\"]")
        try:
            level = protocol.DEFAULT_LOG_LEVEL if log_level is None else protocol.log_level(log_level, "hello: log_level")
        except protocol.ProtocolError as problem:
            raise CommandError(str(problem))
        return {
            "protocol": PROTOCOL_VERSION,
            "server": "liaison-backend",
            "version": __version__,
            "features": session.hello(features, level),
            "available": list(FEATURES),
            "limits": {
                "max_size": self.max_size,
                "max_depth": protocol.MAX_DEPTH,
                "max_int_digits": protocol.MAX_INT_DIGITS,
                "send_timeout": self.send_timeout,
                "stream_window": protocol.DEFAULT_WINDOW,
                "max_stream_window": protocol.MAX_WINDOW,
                "output_batch_bytes": OUTPUT_BATCH_BYTES,
                "output_batch_seconds": OUTPUT_BATCH_SECONDS,
                "progress_seconds": PROGRESS_SECONDS,
            },
        }

    def more(self, id, count):
        """The ``more`` command: the client has read *count* more items of its streamed request *id*, so that
        many more may be sent. Returns how many may be sent now (0 for a request that streams no more)."""
        session = self._caller()
        if session is None:
            raise CommandError("more: only a client can read a stream, and only its own")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise CommandError("more: count must be a whole number of items read, not {!r}".format(count))
        return session.more(id, count)

    def current_client(self):
        """The client (a :class:`~liaison.session.Client`) whose command is running on this thread, or None
        outside a command.

        Pass it to :meth:`send` to report progress to the caller only.
        """
        session = self._caller()
        return None if session is None else session.client

    def _caller(self):
        """The session whose command runs on this thread, or None."""
        return getattr(self._local, "session", None)

    # Pushed messages.

    def send(self, message, client=None, timeout=None):
        """Push *message* as it is (no envelope) to *client*, or to every client; return how many got it.

        *message* is encoded as strict JSON like a result; a ``str`` that is
        already JSON text is sent unchanged. Safe from any thread, including
        from inside a command; it never waits for a client. A client that
        said ``hello`` with ``interleave`` gets the message at once; any other
        client gets it right after the reply to its request running or queued
        now, if any, as liaison-py sent it. A client that cannot take it within
        *timeout* seconds (default: the server's ``send_timeout``) of its turn
        to be written is dropped; nobody else waits for it.
        """
        with shielded():
            if isinstance(client, (int, float)) and not isinstance(client, bool):
                client, timeout = None, client  # liaison-py's send(message, timeout)
            payload = protocol.push(message)
            if client is None:
                sessions = self._sessions_now()
            elif isinstance(client, Client):
                sessions = [client._session]
            else:
                raise TypeError("send: client must be one of connected_clients() or current_client(), not {!r}"
                                .format(client))
            timeout = self.send_timeout if timeout is None else timeout
            return sum(1 for session in sessions if session.push(payload, timeout))

    def serve_in_thread(self, then=None):
        """Serve (``serve_forever``, which transports implement) on a new daemon thread and return that
        thread; *then*, if given, is called on it once serving ends, however it ends. :meth:`stop` (from
        any thread) ends serving."""
        def serve():
            try:
                self.serve_forever()
            finally:
                if then is not None:
                    then()

        thread = threading.Thread(target=serve, name="liaison-server", daemon=True)
        thread.start()
        self._background = thread  # only once started: stop() may join it
        return thread

    def stop(self):
        """Stop serving; transports implement this."""
        raise NotImplementedError


class Streaming:
    """A command's iterator result that its client asked to receive item by item: what is sent of it so far."""

    __slots__ = ("iterator", "request", "report", "window", "sent", "read")

    def __init__(self, iterator, request, report):
        self.iterator = iterator
        self.request = request
        self.report = report
        self.window = request.stream
        self.sent = 0  # items queued for the client
        self.read = 0  # items the client said it has read

    def room(self):
        """How many more items may be sent before the client says it read some (0 or less: none)."""
        return self.window - (self.sent - self.read)

    def item(self, item):
        """The message carrying the next item (UTF-8 bytes)."""
        return protocol.push({"tag": "item", "id": self.request.id, "index": self.sent, "item": item})

    def end(self):
        """The reply that ends the stream."""
        return protocol.response({"items": self.sent}, self.request)


class _Call:
    """A function handed to the dispatcher, with its outcome for the waiting worker thread."""

    def __init__(self, fn, interruptible):
        self.fn = fn
        self.interruptible = interruptible
        self.done = threading.Event()
        # Guards ``started`` against ``done``, so that a call is either run or given up, never both.
        self.lock = threading.Lock()
        self.started = False
        self.value = None
        self.error = None

    def run(self):
        """Run the function (on the dispatcher's thread), unless the call was given up."""
        with self.lock:
            if self.done.is_set():
                return
            self.started = True
        try:
            self.value = self.interruptible.run(self.fn)
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
