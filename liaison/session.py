"""One client's conversation with a server, whatever transport carries its messages.

A transport reads a client's messages on a thread of its own and hands each to
:meth:`Session.receive`. Urgent requests (``ping``, ``cancel``) are answered
at once on that thread, even while a command runs; the others wait in a
bounded inbox for the session's worker thread, which runs them one by one and
sends each reply in order. The transport gives the session a *connection*
with two methods: ``send(data, timeout)`` writes one message's UTF-8 bytes
(or, for a large reply, its list of parts) whole by the deadline, or drops the
client, and returns whether it went;
``close(code, reason)`` ends the conversation politely.

Threads and locks
-----------------
Threads: the transport's reader (one per client); the session's worker (one
per client), or else the server's executor (one thread shared by every
client, which never waits on a client: a reply the client cannot take at once
is finished by the session's sender thread); the host's thread when the
server has a dispatcher; any thread that pushes a message with
``Liaison.send``; and the thread that stops the server.

Locks, in the only order in which one may be taken while another is held:

1. ``Companion.lock`` guards the namespace while a command runs (held by the
   thread running it). Under it, called code may block as it likes, but
   liaison itself only sends, and every send has a deadline.
2. ``Session._lock`` guards this session's inbox, running job, recent ids and
   state. Bookkeeping only: no I/O and no waiting while it is held (waiting on
   its condition releases it).
3. The connection's send lock (``Connection._send_lock`` for websockets,
   ``PipeConnection._lock`` for stdio) keeps messages whole on the wire. It is
   acquired with the send's deadline, and writes under it stop at that
   deadline. A frame begun on the executor's thread is finished, and the lock
   released, by the sender thread.
4. ``Liaison._lock`` guards the server's registry of sessions, its pending
   dispatcher calls and (websocket) its connections. Bookkeeping only.

Taken alone, for bookkeeping only (no other lock and no wait while held):
``Interruptible._lock`` (one per job: whether its function runs),
``_Call.lock`` (one per dispatched command: run or given up),
``MainThreadDispatcher._lock`` (its queue), ``WebsocketLiaison._serve_lock``
and ``_stop_lock`` (serving and closing state), and the CLI's
``_StopMarker._lock`` (the STOP marker is written once; the write has the
send deadline).
"""
import collections
import logging
import threading

from . import protocol
from .interrupt import Cancelled, Interruptible

__all__ = ["Session", "INBOX_REQUESTS"]

logger = logging.getLogger("liaison")

#: Requests a client may have waiting behind a running command; past that, its transport
#: stops reading from it (TCP back-pressure) until one is done.
INBOX_REQUESTS = 64

#: Ids of finished requests remembered per session, so ``cancel`` can say "finished".
RECENT_IDS = 256


class _Job:
    """One queued or running request, with what it takes to interrupt it."""

    __slots__ = ("request", "id", "interruptible", "timer")

    def __init__(self, request):
        self.request = request
        self.id = getattr(request, "id", None)  # a ProtocolError has none
        self.interruptible = Interruptible()
        self.timer = None


class Session:
    """One client's conversation: a bounded inbox, a worker that runs its commands in order,
    and the urgent path.

    Methods for the transport: :meth:`start`, :meth:`receive` and :meth:`take`
    (from the reader thread), :meth:`finish` (the client will send no more),
    :meth:`end` (the client is gone).

    Methods for the server: :meth:`send` (push a message), :meth:`cancel`,
    :meth:`close_after_reply`, :meth:`going_away`, :meth:`interrupt_running`,
    :meth:`join`, :attr:`busy`.

    Methods that may be overridden: :meth:`run` (one request to one reply).
    """

    def __init__(self, server, connection, name):
        self.server = server
        self.connection = connection
        self.name = name
        self.reader = threading.current_thread()
        self.worker = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inbox = collections.deque()
        self._running = None
        self._recent = collections.deque(maxlen=RECENT_IDS)
        self._ended = False
        self._scheduled = False
        self._outbox = collections.deque()  # sends handed to the sender thread, in order
        self._sending = 0  # of those, how many are not finished yet
        self._sender = None
        self._finishing = False
        self._close_after_reply = False

    def __repr__(self):
        return "<{} {}>".format(type(self).__name__, self.name)

    # For the transport.

    def start(self):
        """Start the worker thread, unless the server's executor runs this session's requests."""
        if self.server.executor is None:
            self.worker = threading.Thread(target=self._work, name="liaison-worker-" + self.name, daemon=True)
            self.worker.start()

    def join(self, timeout=None):
        """Wait for the worker thread (if any) to end."""
        if self.worker is not None:
            self.worker.join(timeout)

    def receive(self, message):
        """Take one message from the client: answer it at once if urgent, else queue it.

        Blocks while the inbox is full, so that the transport stops reading.
        """
        request = self.server.parse(message)
        message = None  # hold no large message while waiting for room
        self.take(request)

    def take(self, request):
        """Answer a parsed request (or the ProtocolError a message was) at once if urgent, else queue it."""
        if self.server.is_urgent(request):
            self.connection.send(self.server.answer(request, self), self.server.send_timeout)
            return
        job = _Job(request)
        with self._lock:
            while len(self._inbox) >= INBOX_REQUESTS and not self._ended:
                self._changed.wait()
            if self._ended:
                return
            self._inbox.append(job)
            if self.worker is not None:
                self._changed.notify_all()  # only a worker waits for requests
            schedule = self._claim_executor()
        if schedule:
            self.server.executor.submit(self._step)
        timeout = getattr(request, "timeout", None)
        if timeout is not None:
            job.timer = threading.Timer(timeout, self._expire, (job,))
            job.timer.daemon = True
            job.timer.start()

    def finish(self):
        """The client will send nothing more: answer what is queued, then close the connection."""
        with self._lock:
            self._finishing = True
            self._changed.notify_all()
            schedule = self._claim_executor()
        if schedule:
            self.server.executor.submit(self._step)

    def end(self):
        """The client is gone: drop its queued requests unrun; the worker ends after the running one."""
        with self._lock:
            self._ended = True
            dropped = list(self._inbox)
            self._inbox.clear()
            self._changed.notify_all()
        for job in dropped:
            self._forget(job)
        if dropped:
            logger.debug("%s left with %d request(s) unrun; dropped", self.name, len(dropped))


    # For the server.

    @property
    def busy(self):
        """Whether a request of this client is queued or running: the client may be waiting for us."""
        with self._lock:
            return self._running is not None or bool(self._inbox)

    def send(self, data, timeout):
        """Send UTF-8 *data* to this client within *timeout* seconds; return whether it went."""
        return self.connection.send(data, timeout)

    def cancel(self, ident):
        """Cancel this client's request *ident*: ``"dequeued"``, ``"interrupted"``, ``"finished"`` or ``"unknown"``."""
        with self._lock:
            job = next((job for job in self._inbox if job.id == ident), None)
            if job is None and self._running is not None and self._running.id == ident:
                job = self._running
            finished = ident in self._recent
        if job is not None:
            return self._cancel(job)
        return "finished" if finished else "unknown"

    def _cancel(self, job):
        """Dequeue *job* (it gets its Cancelled reply now) or interrupt it if it runs."""
        with self._lock:
            queued = job in self._inbox
            if queued:
                self._inbox.remove(job)
                self._changed.notify_all()
        if queued:
            self._forget(job)
            self.send(protocol.error(Cancelled(), job.request), self.server.send_timeout)
            return "dequeued"
        return "interrupted" if job.interruptible.interrupt() else "finished"

    def close_after_reply(self):
        """Close the connection once the running command has replied; queued requests are not run."""
        with self._lock:
            self._close_after_reply = True
            dropped = list(self._inbox)
            self._inbox.clear()
            self._changed.notify_all()
        for job in dropped:
            self._forget(job)

    def going_away(self, timeout):
        """The server stops: drop queued requests and close with 1001, waiting at most *timeout* seconds."""
        self.end()
        self.connection.close(1001, "server is stopping", timeout)

    # Running requests: on the session's worker thread, or one step at a time on the server's executor.

    def run(self, request, interruptible):
        """The reply (UTF-8 bytes) to one queued request."""
        return self.server.answer(request, self, interruptible)

    def _work(self):
        """The worker thread: run queued requests in order until the client is gone."""
        while True:
            job = self._next(block=True)
            if job is None:
                break
            if not self._do(job):
                return
        self._wind_up()

    def _step(self):
        """Run the next queued request on the executor's thread, then hand the executor the step after it.

        One request per step, so that the sessions sharing an executor take turns.
        """
        job = self._next(block=False)
        if job is not None and not self._do(job):
            return
        with self._lock:
            more = bool(self._inbox) and not self._ended
            self._scheduled = more
        if more:
            self.server.executor.submit(self._step)
        else:
            self._wind_up()

    def _claim_executor(self):
        """With the lock held: whether the caller should submit a step (the session has none pending)."""
        if self.server.executor is None or self._scheduled:
            return False
        self._scheduled = True
        return True

    def _next(self, block):
        """The next queued job, now running; None if there is none (blocking: until none can come)."""
        with self._lock:
            while block and not self._inbox and not (self._ended or self._finishing or self._close_after_reply):
                self._changed.wait()
            if not self._inbox:
                return None
            job = self._running = self._inbox.popleft()
            if len(self._inbox) == INBOX_REQUESTS - 1:
                self._changed.notify_all()  # the reader may be waiting for room
            return job

    def _do(self, job):
        """Run one job and send its reply; return whether to go on with the next."""
        try:
            reply = self.run(job.request, job.interruptible)
        except BaseException as problem:  # a bug in liaison, not in called code: still one reply
            logger.exception("%s: no reply could be built for a request", self.name)
            reply = protocol.error(problem, job.request)
        if job.timer is not None:
            job.timer.cancel()
        with self._lock:
            self._running = None
            self._recent.append(job.id)
            closing = self._close_after_reply
            behind = self._sending > 0
        self._deliver(reply, behind)
        if closing:
            self._close(1001, "server is stopping")
        return not closing

    def _deliver(self, reply, behind):
        """Send a reply. The worker waits for the client, up to the deadline; the executor's thread,
        shared by every client, never does: what the client cannot take at once goes to this
        session's sender thread, and so does all that follows (*behind*: some is still there)
        until the sender is done."""
        if self.worker is not None:
            self.send(reply, self.server.send_timeout)
            return
        finish = (lambda timeout: self.send(reply, timeout)) if behind else self.connection.send_now(reply)
        if finish is not None:
            self._hand_over(finish)

    def _close(self, code, reason):
        """Close the connection after every reply handed to the sender thread."""
        with self._lock:
            behind = self._sending > 0
        if behind:
            self._hand_over(lambda timeout: self.connection.close(code, reason, timeout))
        else:
            self.connection.close(code, reason, self.server.send_timeout)

    def _hand_over(self, finish):
        """Have the sender thread call ``finish(timeout)`` after what it has already."""
        with self._lock:
            self._sending += 1
            self._outbox.append(finish)
            start = self._sender is None
            if start:
                self._sender = threading.Thread(target=self._send, name="liaison-sender-" + self.name, daemon=True)
            self._changed.notify_all()
        if start:
            self._sender.start()

    def _send(self):
        """The sender thread: finish handed-over sends in order, each by its deadline, until the client is gone."""
        while True:
            with self._lock:
                while not self._outbox and not self._ended:
                    self._changed.wait()
                if not self._outbox:
                    return
                finish = self._outbox.popleft()
            finish(self.server.send_timeout)
            with self._lock:
                self._sending -= 1

    def _wind_up(self):
        """No request is left: if the client said it will send no more, close the conversation."""
        with self._lock:
            finished = self._finishing and not self._ended and not self._inbox and self._running is None
        if finished:
            self._close(1000, "")

    def interrupt_running(self):
        """Interrupt the command running now, if any (the server stops)."""
        with self._lock:
            job = self._running
        if job is not None:
            job.interruptible.interrupt()

    def _expire(self, job):
        """A request's own deadline passed: dequeue it, or interrupt it if it runs."""
        logger.info("%s: request %r passed its deadline; cancelling it", self.name, job.id)
        self._cancel(job)

    def _forget(self, job):
        """A job is done with: stop its deadline and remember its id for ``cancel``."""
        if job.timer is not None:
            job.timer.cancel()
        with self._lock:
            self._recent.append(job.id)
