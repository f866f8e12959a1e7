"""One websocket connection: its state, whole frames out by a deadline, whole messages in.

The reader thread reads frames and assembles messages; any thread may send.
Every write happens under the connection's send lock, which is acquired by the
send's deadline, and is made with non-blocking socket calls that also stop at
that deadline: a client that stops reading is dropped, and nobody waits on it
for longer than that.
"""
import codecs
import enum
import select
import socket
import threading
import time

from ..logs import logger
from . import frames

__all__ = ["State", "Connection", "SLOW_CLIENT_CODE"]

#: Close code sent to a client that did not take a message by its deadline, when the close frame fits.
SLOW_CLIENT_CODE = 1008

#: Payloads shorter than this are written in one piece with their header.
_SMALL_SEND = 64 * 1024

#: Where the platform has no MSG_DONTWAIT (Windows), writes are this large at most, each after a
#: wait for the socket to be writable.
_BLOCKING_CHUNK = 64 * 1024
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class State(enum.Enum):
    """Where a connection is in its life; it only moves forward."""

    CONNECTING = 1  #: the opening handshake is under way
    OPEN = 2        #: messages flow both ways
    CLOSING = 3     #: our close frame is sent: no frame of ours may follow it (RFC 6455 section 5.5.1)
    CLOSED = 4      #: the TCP connection is shut, or being shut


class _Late(Exception):
    """A write did not finish by its deadline; *started* says whether some of its bytes went."""

    def __init__(self, started):
        super().__init__("deadline passed")
        self.started = started


class Connection:
    """One client's websocket: sending with deadlines, closing, keepalive, and reading messages.

    Methods for the caller: :meth:`open`, :meth:`send`, :meth:`send_now`, :meth:`close`,
    :meth:`abort`, :meth:`read_message` (the reader thread only),
    :meth:`keepalive` (the pinger thread).
    """

    _unreachable_by_targets = True

    def __init__(self, sock, rfile, name, max_size):
        self.sock = sock
        self.rfile = rfile
        self.name = name
        self.max_size = max_size
        self.state = State.CONNECTING
        # Keeps frames whole on the wire and orders the state changes that write (opening, our close
        # frame). Acquired by each send's deadline; taken after the Companion and session locks.
        self._send_lock = threading.Lock()
        #: When the reader started waiting for the client's next frame (None while it reads one).
        self.waiting_since = None
        #: When the last unanswered server ping was sent (None once the client answers).
        self.ping_sent = None

    # Writing.

    def open(self, response, timeout):
        """Send the handshake's 101 *response* and become OPEN, unless the connection was closed first."""
        deadline = time.monotonic() + timeout
        if not self._send_lock.acquire(timeout=timeout):
            return False
        try:
            if self.state is not State.CONNECTING:
                return False
            self._write(response, deadline)
            self.state = State.OPEN
            return True
        except (_Late, OSError):
            self.shut()
            return False
        finally:
            self._send_lock.release()

    def send_raw(self, data, timeout):
        """Write bytes before the websocket opens (an HTTP refusal); return whether they went."""
        deadline = time.monotonic() + timeout
        with self._send_lock:
            try:
                self._write(data, deadline)
                return True
            except (_Late, OSError):
                return False

    def send(self, data, timeout):
        """Send UTF-8 *data* (bytes, or a list of bytes parts) as one text message within *timeout*
        seconds; return whether it went.

        A client that has not taken it by then is dropped. Nothing is sent
        once the connection is closing.
        """
        return self.send_frame(frames.TEXT, data, timeout)

    def send_frame(self, opcode, payload, timeout):
        """Send one unfragmented frame while OPEN, within *timeout* seconds; return whether it went."""
        deadline = time.monotonic() + timeout
        if not self._lock_open(timeout):
            return False
        return self._write_and_release(_frame(opcode, payload), False, deadline, timeout)

    def _lock_open(self, timeout):
        """Take the send lock within *timeout* seconds (else drop the client) and keep it if still OPEN;
        return whether it is held."""
        if not self._send_lock.acquire(timeout=max(0.0, timeout)):
            self.abort("no frame could be sent to it within {} s".format(timeout))
            return False
        if self.state is not State.OPEN:
            self._send_lock.release()
            return False
        return True

    def send_now(self, data):
        """Send a text message as far as the socket takes it without waiting.

        Returns None once it went (or cannot go: the connection is closing);
        else the rest, for a thread that may wait: ``rest(timeout)`` sends it
        and returns whether it went. Until then the send lock stays taken once
        the frame has begun (``rest.locked``), so nothing else gets between its parts.
        """
        parts = _frame(frames.TEXT, data)
        if not self._send_lock.acquire(blocking=False):
            return _Rest(self, parts, False, False)
        try:
            rest = self._write_now(parts) if self.state is State.OPEN else []
        except OSError as problem:
            logger.debug("%s: send failed: %s", self.name, problem)
            self.shut()
            rest = []
        if not rest:
            self._send_lock.release()
            return None
        return _Rest(self, rest, sum(map(len, rest)) < sum(map(len, parts)), True)

    def _write_now(self, parts):
        """Write *parts* while the socket takes them at once; return what is left (the send lock is held)."""
        for number, part in enumerate(parts):
            view = memoryview(part)
            while view:
                try:
                    sent = self.sock.send(view, _DONTWAIT) if _DONTWAIT else 0
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if not sent:
                    return [view] + parts[number + 1:]
                view = view[sent:]
        return []

    def _write_and_release(self, parts, started, deadline, timeout):
        """Write *parts* by *deadline* with the send lock held, then give it back; return whether they went.

        *started* says whether some of the frame went already; a client that
        misses the deadline (*timeout* seconds in all) is dropped.
        """
        try:
            for part in parts:
                self._write(part, deadline, started)
                started = True
            return True
        except _Late as late:
            self._drop_locked(late.started, "it did not take a message within {} s".format(timeout))
            return False
        except OSError as problem:
            logger.debug("%s: send failed: %s", self.name, problem)
            self.shut()
            return False
        finally:
            self._send_lock.release()

    def close(self, code, reason, timeout):
        """Send our close frame (if still OPEN) within *timeout* seconds, then shut the connection.

        The reader sees the end of the stream and ends the session.
        """
        self._close_frame(frames.close_payload(code, reason), timeout)
        self.shut()

    def close_for_error(self, code, reason, timeout):
        """Send our close frame for a protocol error; the caller then drains what the client still sends."""
        self._close_frame(frames.close_payload(code, reason), timeout)
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _close_frame(self, payload, timeout):
        """Send a close frame with *payload* if OPEN and the deadline allows; the state becomes CLOSING or CLOSED."""
        deadline = time.monotonic() + timeout
        if not self._send_lock.acquire(timeout=max(0.0, timeout)):
            self.shut()
            return
        try:
            if self.state is State.CONNECTING:
                self.state = State.CLOSED
            elif self.state is State.OPEN:
                self.state = State.CLOSING
                self._write(frames.header(frames.CLOSE, len(payload)) + payload, deadline)
        except (_Late, OSError):
            self.shut()
        finally:
            self._send_lock.release()

    def abort(self, why):
        """Drop the client now, without waiting for anything: its connection is shut."""
        if self.state is not State.CLOSED:
            logger.warning("dropping %s: %s", self.name, why)
        self.shut()

    def _drop_locked(self, started, why):
        """Drop a client that missed a deadline; with the send lock held, a close frame goes first if it fits."""
        logger.warning("dropping %s: %s", self.name, why)
        if not started and self.state is State.OPEN:
            payload = frames.close_payload(SLOW_CLIENT_CODE, "client too slow to read")
            self.state = State.CLOSING
            try:
                self._write(frames.header(frames.CLOSE, len(payload)) + payload, time.monotonic())
            except (_Late, OSError):
                pass
        self.shut()

    def shut(self):
        """Shut the TCP connection both ways: blocked reads and writes on it end."""
        self.state = State.CLOSED
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, data, deadline, started=False):
        """Write all of *data* by *deadline* (monotonic), or raise :class:`_Late`. The send lock is held."""
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view if _DONTWAIT else view[:_BLOCKING_CHUNK], _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent:
                view = view[sent:]
                started = True
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not _wait_writable(self.sock, remaining):
                raise _Late(started)

    # Keepalive, from the server's pinger thread: never blocks.

    def keepalive(self, client_waits_for_us):
        """Ping the client, or drop it if it sent nothing since the last ping while the server waited.

        A client is judged only while the reader waits for its next frame (a
        large message in transit never gets it dropped), and never while it
        waits for one of its commands (*client_waits_for_us*): command time does
        not count against a client.
        """
        waiting_since, ping_sent = self.waiting_since, self.ping_sent
        if self.state is not State.OPEN or waiting_since is None:
            return
        if client_waits_for_us:
            self.ping_sent = ping_sent = None  # pings sent now are not counted: it may not read until its reply
        if ping_sent is not None and ping_sent >= waiting_since:
            self.abort("no answer to a ping")
            return
        if not self._send_lock.acquire(blocking=False):
            return  # a message is being written: its own deadline judges the client
        try:
            if self.state is State.OPEN:
                if not client_waits_for_us:
                    self.ping_sent = time.monotonic()
                self._write(frames.header(frames.PING, 0), time.monotonic())
        except _Late as late:
            self._drop_locked(late.started, "its connection takes no more data")
        except OSError:
            self.shut()
        finally:
            self._send_lock.release()

    # Reading, on the reader thread only.

    def read_message(self, send_timeout):
        """Read frames until a whole message arrives; return it, or None once the client closed.

        Pings are answered and pongs noted on the way, even between fragments;
        control frames do not count toward the size limit. Text messages come
        back as ``str``, checked to be UTF-8 fragment by fragment as they
        arrive; binary ones as ``bytes``. Raises :class:`frames.FrameError` for
        a protocol error.
        """
        fragments = []
        size = 0
        opcode = None
        decoder = None
        while True:
            self._wait_for_frame()
            fin, frame_opcode, payload = frames.read_frame(self.rfile, self.max_size - size)
            if frame_opcode == frames.PING:
                self.send_frame(frames.PONG, bytes(payload), send_timeout)
                continue
            if frame_opcode == frames.PONG:
                self.ping_sent = None
                continue
            if frame_opcode == frames.CLOSE:
                code = frames.parse_close(payload)
                self._close_frame(b"" if code == 1005 else bytes(payload[:2]), send_timeout)
                return None
            if frame_opcode == frames.CONTINUATION and opcode is None:
                raise frames.FrameError(1002, "continuation frame with no message to continue")
            if frame_opcode != frames.CONTINUATION and opcode is not None:
                raise frames.FrameError(1002, "new message started before the previous one ended")
            if opcode is None:
                opcode = frame_opcode
                if fin:
                    return _single(opcode, payload)
                if opcode == frames.TEXT:
                    decoder = codecs.getincrementaldecoder("utf-8")()
            size += len(payload)
            fragments.append(_text(decoder, payload, fin) if decoder else payload)
            payload = None
            if fin:
                return "".join(fragments) if decoder else b"".join(fragments)

    def _wait_for_frame(self):
        """Block until the next frame starts to arrive, noting the wait for :meth:`keepalive`."""
        self.waiting_since = time.monotonic()
        try:
            self.rfile.peek(1)
        finally:
            self.waiting_since = None


class _Rest:
    """The part of a frame :meth:`Connection.send_now` could not write at once (all of it if another
    frame was being written): call it with a timeout to write it."""

    __slots__ = ("connection", "parts", "started", "locked")

    def __init__(self, connection, parts, started, locked):
        self.connection = connection
        self.parts = parts
        self.started = started  # some of the frame went already
        self.locked = locked  # the send lock is held for it

    def __call__(self, timeout):
        """Write the rest within *timeout* seconds (dropping a client that misses it); return whether it went."""
        connection = self.connection
        deadline = time.monotonic() + timeout
        if not self.locked and not connection._lock_open(timeout):
            return False
        self.locked = False
        return connection._write_and_release(self.parts, self.started, deadline, timeout)


def _frame(opcode, payload):
    """One unfragmented frame as parts to write: whole if small, else header and payload (not copied).

    *payload* is bytes, or a list of bytes parts (a large reply).
    """
    parts = payload if isinstance(payload, list) else [payload]
    size = sum(map(len, parts))
    head = frames.header(opcode, size)
    return [head + b"".join(parts)] if size < _SMALL_SEND else [head] + parts


def _single(opcode, payload):
    """The message of one unfragmented data frame."""
    if opcode == frames.BINARY:
        return bytes(payload)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise frames.FrameError(1007, "text message is not valid UTF-8")


def _text(decoder, payload, final):
    """One fragment of a text message, decoded as it arrives so bad UTF-8 is caught at once."""
    try:
        return decoder.decode(payload, final)
    except UnicodeDecodeError:
        raise frames.FrameError(1007, "text message is not valid UTF-8")


def _wait_writable(sock, timeout):
    """Wait up to *timeout* seconds for *sock* to take more bytes; return whether it will."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        return bool(poller.poll(timeout * 1000))
    return bool(select.select([], [sock], [], timeout)[1])
