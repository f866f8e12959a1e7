"""One client's conversation with a server, whatever transport carries its messages.

A transport reads a client's messages on a thread of its own and hands each to
:meth:`Session.receive`. Urgent requests (``ping``, ``cancel``, ``hello``) are
answered at once on that thread, even while a command runs; the others wait in
an inbox bounded in bytes for the session's worker thread (or the server's
executor), which runs them one by one. Everything the client is sent, replies
and pushed messages, goes through one outbox, in order: a thread that queues
a message writes what the connection takes at once and never waits for the
client; what is left is finished by the session's sender thread, each message
by its deadline. A client that has not said ``hello`` with the feature
``interleave`` gets a message pushed while one of its requests is queued or
running only after that request's reply, as liaison-py sent it.

The transport gives the session a *connection* with ``send(data, timeout)``
(write one message's UTF-8 bytes, or a large reply's list of parts, whole by
the deadline, or drop the client; return whether it went), ``send_now(data)``
(write what goes without waiting; return None, or the *rest*: ``rest(timeout)``
writes it by the deadline and returns whether it went; a rest whose ``locked``
is true has begun and holds the send lock until then, so nothing gets between
the parts of a message), and
``close(code, reason, timeout)``, ``close_for_error(code, reason, timeout)``
(a close frame for a protocol error, after which the transport reads no more)
and ``abort(why)`` (drop the client now).

Threads and locks
-----------------
Threads: the transport's reader (one per client); the session's worker (one
per client), or else the server's executor (one thread shared by every
client, the CLI's main thread); the session's sender (one per client, started
the first time the client cannot take a message at once); the host's thread
when the server has a dispatcher; the server's deadline thread; any thread
that pushes a message with ``Liaison.send``; and the thread that stops the
server.

No thread waits on a client while it holds anything shared: a command's
thread, the executor and the reader only queue messages; the sender, which
holds nothing but the connection's send lock, is the one that waits, by a
deadline.

Locks, in the only order in which one may be taken while another is held:

1. ``Companion.lock`` guards the namespace while a command runs (held by the
   thread running it). Under it, called code may block as it likes, but
   liaison itself only queues messages.
2. ``Report._lock`` (:mod:`liaison.output`, one per request whose client
   asked for output or progress) guards that request's output batch and
   waiting progress; batches are queued for the client under it, so that they
   leave in order. Bookkeeping only.
3. ``Session._lock`` guards this session's inbox, running job, streamed
   results, outbox, held pushes, recent ids, features and state. Bookkeeping
   only: no I/O and no waiting while it is held (waiting on its condition
   releases it).
4. The connection's send lock (``Connection._send_lock`` for websockets,
   ``PipeConnection._lock`` for stdio) keeps messages whole on the wire. It is
   acquired with a deadline (or without waiting), and writes under it stop at
   that deadline. A message begun by a thread that may not wait is finished,
   and the lock released, by the sender thread.
5. ``Liaison._lock`` guards the server's registry of sessions, its pending
   dispatcher calls and (websocket) its connections. Bookkeeping only.
6. ``Deadlines._lock`` guards the server's pending deadlines; a report sets
   and cancels its batch's deadline under its own lock. Bookkeeping only, and
   nothing is taken under it (the deadline thread calls functions without it).

Taken alone, for bookkeeping only (no other lock and no wait while held):
``Interruptible._lock`` (one per job: whether its thread may be interrupted
now), ``_Call.lock`` (one per dispatched command: run or given up),
``MainThreadDispatcher._lock`` (its queue), ``output._install_lock`` (the
process-wide streams routed by thread), the ``logs`` logger's first-use lock
and its stderr handler's lock (taken by a deadline), ``StdoutRelay._lock``
(what stopping hands the stdout relay), ``WebsocketLiaison._serve_lock``
and ``_stop_lock`` (serving and closing state), and the CLI's
``_StopMarker._lock`` (the STOP marker is written once; the write has a
deadline).

Every lock is taken with ``with``, or inside a :func:`~liaison.interrupt.shielded`
section, or on a thread that runs no command: a cancelled command's exception
(see :mod:`liaison.interrupt`) can never leave one held. Liaison's code runs
shielded on a command's thread; only called code is exposed to interruption.
"""
import collections
import threading

from . import protocol
from .interrupt import Cancelled, Interruptible
from .logs import logger

__all__ = ["Session", "Client", "INBOX_MESSAGES", "JOB_COST", "RECENT_IDS", "RECENT_ID_BYTES", "BACKLOG_BYTES",
           "FEATURES"]

#: Requests a client may have waiting behind its running command, in multiples of the server's
#: largest message, each counted as its size plus ``JOB_COST``; past that its transport stops reading
#: from it (TCP back-pressure) until one is done. A lone request always fits.
INBOX_MESSAGES = 2

#: Bytes each waiting request is counted for on top of its size: what holding it costs besides its text.
JOB_COST = 1024

#: Ids of finished requests remembered per session, so ``cancel`` can say "finished": at most this many,
RECENT_IDS = 256
#: and at most this many bytes of them in all (an id longer than a 256th of that, or an array or
#: object, is not remembered: cancelling it once finished answers "unknown").
RECENT_ID_BYTES = 64 * 1024

#: Bytes of messages that may wait for a client behind the one being written to it; past that the
#: client, which is not reading, is dropped. Pushes held for a client until its reply count too:
#: past that they go at once, before the reply.
BACKLOG_BYTES = 64 * 1024 * 1024

#: What a client can ask for in ``hello``.
FEATURES = ("interleave", "output", "progress", "stream")



class _Job:
    """One queued or running request, with what it takes to interrupt it; a streamed result runs in
    steps, each with an Interruptible of its own, and waits between them for the client to read."""

    __slots__ = ("request", "id", "cost", "interruptible", "deadline", "stream", "asked")

    def __init__(self, request, cost):
        self.request = request
        self.id = getattr(request, "id", None)  # a ProtocolError has none
        self.cost = cost
        self.interruptible = Interruptible()
        self.deadline = None
        self.stream = None  # the Streaming, once the command returned an iterator to stream
        self.asked = None  # why a stream was cancelled between two of its steps (a Cancelled), or None


class Client:
    """What commands and host code get of a connected client: a name, and something to pass to
    ``Liaison.send(message, client=...)``. The conversation itself stays out of their reach."""

    __slots__ = ("_session",)

    def __init__(self, session):
        self._session = session

    @property
    def name(self):
        """How the server names the client in its logs, such as ``client 127.0.0.1:50312``."""
        return self._session.name

    def __repr__(self):
        return "<{}>".format(self._session.name)

    def __str__(self):
        return self._session.name


def _size(data):
    """Bytes in one outgoing message: bytes, or a list of parts."""
    return sum(map(len, data)) if isinstance(data, list) else len(data)


class Session:
    """One client's conversation: a bounded inbox, a worker that runs its commands in order,
    the urgent path, and an outbox that never makes anyone but its sender thread wait.

    Methods for the transport: :meth:`start`, :meth:`receive` and :meth:`take`
    (from the reader thread), :meth:`finish` (the client will send no more,
    or broke the protocol), :meth:`end` (the client is gone), :meth:`join`.

    Methods for the server: :meth:`push` (a pushed message), :meth:`cancel`,
    :meth:`hello`, :meth:`close_after_reply`, :meth:`going_away`,
    :meth:`interrupt_running`, :attr:`busy`, :attr:`client`.

    Methods that may be overridden: :meth:`run` (one request to one reply).
    """

    _unreachable_by_targets = True

    def __init__(self, server, connection, name):
        self.server = server
        self.connection = connection
        self.name = name
        self.reader = threading.current_thread()
        self.worker = None
        #: What commands and host code see of this client.
        self.client = Client(self)
        self.features = frozenset()
        self.log_level = protocol.DEFAULT_LOG_LEVEL  # least level of logging records captured, with "output"
        self._inbox_limit = INBOX_MESSAGES * server.max_size
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inbox = collections.deque()
        self._queued = 0  # what the inbox's jobs cost, in bytes
        self._running = None
        self._streams = []  # jobs streaming a result (running, queued to go on, or parked)
        self._parked = []  # of those, the ones waiting for the client to read
        self._urgent = 0  # urgent requests being answered now
        self._recent = collections.deque()
        self._recent_bytes = 0
        self._ended = False
        self._scheduled = False
        self._finishing = False
        self._close_after_reply = False
        self._last_close = (1000, "")  # how to close once every request is answered
        #: Set once the conversation is over: closed after the last reply, or ended.
        self.closed = threading.Event()
        self._held = []  # pushes waiting for the reply of a running or queued request, as outbox items
        self._held_bytes = 0
        self._outbox = collections.deque()
        self._pushed_bytes = 0  # what the outbox's pushed messages hold
        self._writer = None  # None, _DIRECT (a thread writes what goes at once) or _SENDER
        self._sender = None
        self._out_closed = False

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
            self._answer_urgent(request)
            return
        job = _Job(request, len(getattr(request, "raw", None) or "") + JOB_COST)
        timeout = getattr(request, "timeout", None)
        if timeout is not None:  # from its arrival; set first, so that the job's end always finds it
            job.deadline = self.server.deadlines.call_later(timeout, self._expire, job)
        with self._lock:
            while self._inbox and self._queued + job.cost > self._inbox_limit and not self._ended:
                self._changed.wait()
            if self._ended or self._finishing:
                queued = False
            else:
                queued = True
                self._inbox.append(job)
                self._queued += job.cost
                if self.worker is not None:
                    self._changed.notify_all()  # only a worker waits for requests
            schedule = queued and self._claim_executor()
        if not queued and job.deadline is not None:
            job.deadline.cancel()
        if schedule:
            self.server.executor.submit(self._step)

    def _answer_urgent(self, request):
        """Answer an urgent request on this thread; pushes held meanwhile go after it if nothing else runs."""
        with self._lock:
            self._urgent += 1
        reply = None
        try:
            reply = self.server.answer(request, self)
        finally:
            with self._lock:
                self._urgent -= 1
                items = [(reply, self.server.send_timeout, 0)] if reply is not None else []
                if not self._busy():
                    items += self._take_held()
                action = self._queue(items)
            self._act(action)

    def finish(self, code=1000, reason=""):
        """The client will send nothing more: answer what is queued, then close the connection with
        *code* (a protocol error's code, or 1000). A streamed result still open ends, cancelled: the
        client can no longer say it read its items."""
        with self._lock:
            self._finishing = True
            self._last_close = (code, reason)
            for job in self._streams:
                job.asked = job.asked or Cancelled("the client's input ended, so it can read no more items")
            self._unpark(list(self._parked))
            self._changed.notify_all()
            schedule = self._claim_executor()
        if schedule:
            self.server.executor.submit(self._step)

    def end(self):
        """The client is gone: drop its queued requests unrun and what was still to be sent to it;
        the worker ends after the running one."""
        with self._lock:
            self._ended = True
            self._unpark(list(self._parked))  # to close their iterators
            dropped = self._drop_queued()
            streams = bool(self._inbox)
            action = self._close_outbox()
            schedule = streams and self._claim_executor()
            self._changed.notify_all()
        self._act(action)
        self.closed.set()
        if schedule:
            self.server.executor.submit(self._step)  # closes the streams' iterators, on the commands' thread
        for job in dropped:
            self._forget(job)
        if dropped:
            logger.debug("%s left with %d request(s) unrun; dropped", self.name, len(dropped))

    # For the server.

    @property
    def busy(self):
        """Whether a request of this client is queued or running: the client may be waiting for us."""
        with self._lock:
            return self._busy()

    def _busy(self):
        return self._running is not None or bool(self._inbox) or bool(self._parked) or self._urgent > 0

    def push(self, data, timeout):
        """Queue a pushed message (UTF-8 bytes) for this client, to go within *timeout* seconds of being
        begun; return whether it was queued (False once the client is gone).

        Held until the reply of the request running or queued now, unless the
        client asked for ``interleave``; never waits for the client.
        """
        item = (data, timeout, _size(data))
        with self._lock:
            if self._out_closed:
                return False
            overflow = False
            if "interleave" in self.features or not self._busy():
                action = self._queue([item])
            else:
                self._held.append(item)
                self._held_bytes += item[2]
                if self._held_bytes <= BACKLOG_BYTES:
                    return True
                overflow = True
                action = self._queue(self._take_held())
        if overflow:
            logger.warning("%s: over %d bytes of pushed messages held for its reply; sending them now",
                           self.name, BACKLOG_BYTES)
        self._act(action)
        return True

    def hello(self, features, log_level=protocol.DEFAULT_LOG_LEVEL):
        """Take the client's features (those this server knows) and the least logging level its output
        captures; return the features now on."""
        with self._lock:
            self.features = frozenset(feature for feature in features if feature in FEATURES)
            self.log_level = log_level
            action = self._queue(self._take_held()) if "interleave" in self.features else None
        self._act(action)
        return sorted(self.features)

    def cancel(self, ident):
        """Cancel this client's request *ident*: ``"dequeued"``, ``"interrupted"``, ``"finished"`` or ``"unknown"``."""
        with self._lock:
            job = next((job for job in self._inbox if job.id == ident), None)
            if job is None and self._running is not None and self._running.id == ident:
                job = self._running
            if job is None:
                job = next((job for job in self._parked if job.id == ident), None)
            finished = any(ident == known for known, _ in self._recent)
        if job is not None:
            return self._cancel(job)
        return "finished" if finished else "unknown"

    def _cancel(self, job):
        """Dequeue *job* (it gets its Cancelled reply now) or interrupt it if it runs; a streamed result is
        ended by its next step (at once if it waits for the client to read)."""
        with self._lock:
            if job.stream is not None:
                done = job not in self._streams
                if not done:
                    job.asked = Cancelled()
                parked = job in self._parked
                if parked:
                    self._unpark([job])
                schedule = parked and self._claim_executor()
            queued = job.stream is None and job in self._inbox
            if queued:
                self._inbox.remove(job)
                self._queued -= job.cost
                self._changed.notify_all()
        if job.stream is not None:
            if schedule:
                self.server.executor.submit(self._step)
            job.interruptible.interrupt()
            return "finished" if done else "interrupted"
        if not queued:
            return "interrupted" if job.interruptible.interrupt() else "finished"
        self._forget(job)
        reply = protocol.error(Cancelled(), job.request)
        with self._lock:
            action = self._queue([(reply, self.server.send_timeout, 0)])
        self._act(action)
        return "dequeued"

    def close_after_reply(self):
        """Close the connection once the running command has replied; queued requests are not run."""
        with self._lock:
            self._close_after_reply = True
            self._last_close = (1001, "server is stopping")
            dropped = self._drop_queued()
            self._changed.notify_all()
        for job in dropped:
            self._forget(job)

    def _drop_queued(self):
        """With the lock held: take the queued requests out of the inbox and return them; streamed results
        stay, to be closed on the commands' thread."""
        dropped = [job for job in self._inbox if job.stream is None]
        self._inbox = collections.deque(job for job in self._inbox if job.stream is not None)
        self._queued = sum(job.cost for job in self._inbox)
        return dropped

    def going_away(self, timeout):
        """The server stops: drop queued requests and close with 1001, waiting at most *timeout* seconds."""
        self.end()
        self.connection.close(1001, "server is stopping", timeout)

    def interrupt_running(self):
        """Interrupt the command running now, if any (the server stops)."""
        with self._lock:
            job = self._running
        if job is not None:
            job.interruptible.interrupt()

    # Running requests: on the session's worker thread, or one step at a time on the server's executor.

    def run(self, request, interruptible):
        """The reply (UTF-8 bytes, or a list of parts) to one queued request."""
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

        One request (or one stretch of a streamed result) per step, so that the sessions sharing an
        executor take turns.
        """
        job = self._next(block=False)
        if job is not None and not self._do(job):
            return
        with self._lock:
            more = bool(self._inbox)  # once ended, only streams are left, to close
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
            self._queued -= job.cost
            self._changed.notify_all()  # the reader may be waiting for room
            return job

    def _do(self, job):
        """Run one job, or the next stretch of its streamed result; queue its reply once it has one, then
        the pushes held for it; return whether to go on."""
        if job.stream is not None:
            return self._advance(job)
        try:
            reply = self.run(job.request, job.interruptible)
        except BaseException as problem:  # a bug in liaison, not in called code: still one reply
            logger.exception("%s: no reply could be built for a request", self.name)
            reply = protocol.error(problem, job.request)
        if isinstance(reply, (bytes, list)):
            return self._finish(job, reply)
        job.stream = reply
        with self._lock:
            self._streams.append(job)
        return self._advance(job)

    def _finish(self, job, reply):
        """Queue the reply that ends *job*, then the pushes held for it; return whether to go on."""
        if job.deadline is not None:
            job.deadline.cancel()
        with self._lock:
            self._running = None
            if job in self._streams:
                self._streams.remove(job)
            self._remember(job.id)
            closing = self._close_after_reply
            action = self._queue([(reply, self.server.send_timeout, 0)] + self._take_held())
        self._act(action)
        if closing:
            self._close()
        return not closing

    # Streamed results.

    def _advance(self, job):
        """Send the items of a streamed result the client has room for; wait (parked, holding nothing) for it
        to read more; end the stream when its iterator ends, fails or is cancelled. Returns whether to go on."""
        streaming = job.stream
        while True:
            with self._lock:
                room = streaming.room()
                asked = job.asked or (Cancelled("the client left") if self._ended else None)
                if room <= 0 and asked is None:
                    self._running = None
                    self._parked.append(job)
                    return True
                job.interruptible = Interruptible()
            if asked is not None:
                return self._end_stream(job, asked)
            try:
                ended = self.server.advance(streaming, room, self, job.interruptible)
            except BaseException as problem:
                return self._end_stream(job, problem)
            if ended:
                return self._finish(job, streaming.end())

    def _end_stream(self, job, problem):
        """End a streamed result with the error reply for *problem*, its iterator closed first."""
        try:
            self.server.end_stream(job.stream, self, Interruptible())
        except BaseException:
            logger.exception("%s: closing a streamed result's iterator failed", self.name)
        return self._finish(job, protocol.error(problem, job.request))

    def _unpark(self, jobs):
        """With the lock held: streamed results that may go on (ahead of queued requests, in order)."""
        for job in reversed(jobs):
            self._parked.remove(job)
            self._inbox.appendleft(job)
            self._queued += job.cost
        if jobs:
            self._changed.notify_all()

    def more(self, ident, count):
        """The client read *count* more items of its streamed request *ident*; return how many may be sent now."""
        with self._lock:
            job = next((job for job in self._streams if job.id == ident), None)
            if job is None:
                return 0
            streaming = job.stream
            streaming.read = min(streaming.sent, streaming.read + count)
            room = max(0, streaming.room())
            schedule = False
            if room and job in self._parked:
                self._unpark([job])
                schedule = self._claim_executor()
        if schedule:
            self.server.executor.submit(self._step)
        return room

    def stream_item(self, streaming, item):
        """Queue the next item of a streamed result (on the command's thread, which reads them in order)."""
        data = streaming.item(item)
        with self._lock:
            streaming.sent += 1
            action = self._queue([(data, self.server.send_timeout, len(data))])
        self._act(action)

    def emit(self, data):
        """Queue a message about a running request (its output or progress): never held for the reply."""
        with self._lock:
            action = self._queue([(data, self.server.send_timeout, len(data))])
        self._act(action)

    def _wind_up(self):
        """No request is left: if the client said it will send no more, close the conversation."""
        with self._lock:
            finished = self._finishing and not self._ended and not self._inbox and self._running is None \
                and not self._parked
        if finished:
            self._close()

    def _close(self):
        """Close the connection (as :meth:`finish` or :meth:`close_after_reply` said) after everything queued."""
        code, reason = self._last_close
        closer = self.connection.close if code in (1000, 1001) else self.connection.close_for_error

        def close(timeout):
            closer(code, reason, timeout)
            self.closed.set()

        with self._lock:
            action = self._queue([(close, self.server.send_timeout, 0)])
        self._act(action)

    # The outbox: (message or function, timeout, bytes if pushed) items, written in order.

    def _take_held(self):
        """With the lock held: the held pushes, no longer held."""
        held, self._held, self._held_bytes = self._held, [], 0
        return held

    def _queue(self, items):
        """With the lock held: add items to the outbox; return what the caller must do once the lock is
        released (write, drop the client, or nothing), for :meth:`_act`."""
        if self._out_closed or not items:
            return None
        self._outbox.extend(items)
        for _, _, pushed in items:
            self._pushed_bytes += pushed
        if self._pushed_bytes > BACKLOG_BYTES and len(self._outbox) > 1:
            return self._close_outbox()
        if self._writer is _SENDER:
            self._changed.notify_all()
        if self._writer is not None:
            return None
        self._writer = _DIRECT
        return self._write_available

    def _act(self, action):
        """Do what :meth:`_queue` or :meth:`_close_outbox` asked for, now that no lock is held."""
        if action is not None:
            action()

    def _write_available(self):
        """Write queued messages while the connection takes them at once; hand the rest to the sender thread.

        Called by the thread that queued them, which may not wait for the client.
        """
        while True:
            with self._lock:
                if not self._outbox or self._out_closed:
                    self._writer = None
                    return
                data, timeout, pushed = self._outbox[0]
                if callable(data):
                    self._hand_over()
                    return
                self._outbox.popleft()
                self._pushed_bytes -= pushed
            rest = self.connection.send_now(data)
            data = None
            if rest is not None:
                with self._lock:  # once begun, a message is finished, by the sender, even for a closing client
                    self._outbox.appendleft((rest, timeout, 0))
                    self._hand_over()
                return

    def _hand_over(self):
        """With the lock held: make the sender thread the outbox's writer, starting it if need be."""
        self._writer = _SENDER
        if self._sender is None:
            self._sender = threading.Thread(target=self._send, name="liaison-sender-" + self.name, daemon=True)
            self._sender.start()
        self._changed.notify_all()

    def _send(self):
        """The sender thread: write queued messages in order, each by its deadline, until none is left
        (then the thread that queues next writes again) or the client is gone."""
        while True:
            with self._lock:
                while not self._out_closed and not (self._outbox and self._writer is _SENDER):
                    self._changed.wait()
                if not self._outbox:
                    return  # closed, with no message left half written
                data, timeout, pushed = self._outbox.popleft()
                self._pushed_bytes -= pushed
            went = data(timeout) if callable(data) else self.connection.send(data, timeout)
            data = None
            with self._lock:
                action = self._close_outbox() if went is False and not self._out_closed else None
                if not self._outbox:
                    self._writer = None
            self._act(action)

    def _close_outbox(self):
        """With the lock held: nothing more goes to the client; return what to do once the lock is released.

        A message begun by a thread that could not wait is still finished, by
        the sender thread and by its deadline: the client never gets half a
        message followed by something else (the transport's close, the STOP
        marker). The rest is dropped.
        """
        begun = [item for item in self._outbox if getattr(item[0], "locked", False)]
        was_open = not self._out_closed
        pushed, self._pushed_bytes = self._pushed_bytes, 0
        self._out_closed = True
        self._outbox.clear()
        self._outbox.extend(begun)
        if begun:
            self._writer = _SENDER
        self._held = []
        self._held_bytes = 0
        self._changed.notify_all()

        def release():
            self.closed.set()
            if was_open and pushed > BACKLOG_BYTES:
                self.connection.abort("over {} bytes of pushed messages waited for it to read".format(BACKLOG_BYTES))

        return release

    # Bookkeeping.

    def _expire(self, job):
        """A request's own deadline passed (on the deadline thread): dequeue it, or interrupt it if it runs."""
        logger.info("%s: request %r passed its deadline; cancelling it", self.name, job.id)
        self._cancel(job)

    def _forget(self, job):
        """A job is done with: stop its deadline and remember its id for ``cancel``."""
        if job.deadline is not None:
            job.deadline.cancel()
        with self._lock:
            self._remember(job.id)

    def _remember(self, ident):
        """With the lock held: note *ident* as answered, within ``RECENT_IDS`` ids and ``RECENT_ID_BYTES``."""
        size = _id_size(ident)
        if size * 256 > RECENT_ID_BYTES:
            return
        self._recent.append((ident, size))
        self._recent_bytes += size
        while len(self._recent) > RECENT_IDS or self._recent_bytes > RECENT_ID_BYTES:
            self._recent_bytes -= self._recent.popleft()[1]


_DIRECT = "direct"
_SENDER = "sender"


def _id_size(ident):
    """Roughly how many bytes remembering request id *ident* (parsed JSON) holds; an array or object
    counts as too large to remember."""
    if isinstance(ident, str):
        return 50 + len(ident)
    if isinstance(ident, (list, dict)):
        return RECENT_ID_BYTES
    return 32
