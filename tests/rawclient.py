"""A websocket client on a bare socket, for tests in which a client misbehaves on purpose.

It can shrink its receive buffer and never read (a *stalled* client), send any
frame, answer pings or not, and read with a deadline, so that a test of a fault
fails instead of hanging when the server breaks a rule.
"""
import base64
import contextlib
import json
import os
import queue
import select
import socket
import struct
import threading
import time

import message_schema

__all__ = ["TEXT", "BINARY", "CONTINUATION", "CLOSE", "PING", "PONG", "Raw", "request", "frame", "serve",
           "client_thread_alive", "close_code"]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: A stalled client's receive buffer: the kernel's smallest, so the server's writes fill it at once.
SMALL_RCVBUF = 4096


def request(command, *args, id=None, **kwargs):
    """The UTF-8 text of one liaison request."""
    return json.dumps({"command": {"command": command, "args": list(args), "kwargs": kwargs}, "id": id}).encode()


def header(opcode, length, fin=True, rsv=0, masked=True):
    """A client frame's header up to its mask: flags, opcode and the payload *length* it announces."""
    head = bytearray([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if masked else 0
    if length < 126:
        head.append(bit | length)
    elif length < 1 << 16:
        head += struct.pack("!BH", bit | 126, length)
    else:
        head += struct.pack("!BQ", bit | 127, length)
    return bytes(head)


def frame(opcode, payload=b"", fin=True, masked=True):
    """One client frame: header, mask and masked payload."""
    size = len(payload)
    head = header(opcode, size, fin, masked=masked)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    key = (mask * (size // 4 + 1))[:size]
    masked_payload = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")
    return head + mask + masked_payload


def close_code(payload):
    """The status code of a close frame's payload (1005 when it has none)."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


class Raw:
    """One websocket connection to ``127.0.0.1:port`` on a bare socket.

    *rcvbuf* sets SO_RCVBUF before connecting (a stalled client uses
    :data:`SMALL_RCVBUF`). ``status`` is the HTTP status of the handshake's
    answer (101 when the websocket opened).
    """

    def __init__(self, port, rcvbuf=None, path="/", headers=(), timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.local_port = self.sock.getsockname()[1]
        self.buffer = bytearray()
        # Keeps frames whole when the background reader answers pings while the test sends.
        self.send_lock = threading.Lock()
        self.messages = None
        self.pings = []
        self.status = self._handshake(port, path, headers)

    def _handshake(self, port, path, headers):
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET {} HTTP/1.1".format(path), "Host: 127.0.0.1:{}".format(port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        lines += list(headers)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        end = self.buffer.index(b"\r\n\r\n") + 4
        self.head = bytes(self.buffer[:end])
        del self.buffer[:end]
        return int(self.head.split(b" ", 2)[1])

    # Sending.

    def send(self, data):
        """Send raw bytes."""
        with self.send_lock:
            self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", fin=True, masked=True):
        self.send(frame(opcode, payload, fin, masked))

    def send_text(self, payload):
        self.send_frame(TEXT, payload)

    # Reading, with the socket's timeout.

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    def _take(self, count):
        while len(self.buffer) < count:
            self._fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def recv_frame(self):
        """The next server frame as ``(fin, opcode, payload)``; EOFError when the connection ends first.

        A whole message (the server never fragments its own) is checked against the schema.
        """
        first, second = self._take(2)
        assert not second & 0x80, "server frames must not be masked"
        size = second & 0x7F
        if size == 126:
            size, = struct.unpack("!H", self._take(2))
        elif size == 127:
            size, = struct.unpack("!Q", self._take(8))
        fin, opcode, payload = bool(first & 0x80), first & 0x0F, self._take(size)
        if fin and opcode in (TEXT, BINARY):
            message_schema.check_received(payload)
        return fin, opcode, payload

    def next_message(self, timeout=10):
        """The next frame that is not a ping or pong (pings are answered), from the background reader if any."""
        if self.messages is not None:
            try:
                item = self.messages.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("nothing from the server within {} s".format(timeout))
            if isinstance(item, BaseException):
                raise item
            return item
        self.sock.settimeout(timeout)
        return self._next_data_frame()

    def _next_data_frame(self):
        """Receive frames until one that is not a ping or pong; pings are answered on the way."""
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == PING:
                self.pings.append(time.monotonic())
                self.send_frame(PONG, payload)
            elif opcode != PONG:
                return fin, opcode, payload

    def reply(self, timeout=10):
        """The next text message, parsed."""
        fin, opcode, payload = self.next_message(timeout)
        assert (fin, opcode) == (True, TEXT), (opcode, payload[:200])
        return json.loads(payload.decode("utf-8"))

    def reply_to(self, ident, timeout=10):
        """The reply whose request had *ident*, skipping pushed messages on the way."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.reply(max(0.0, deadline - time.monotonic()))
            if isinstance(message, dict) and "evt" in message and (message["evt"] or {}).get("id") == ident:
                return message

    def call(self, command, *args, timeout=10, **kwargs):
        """Send one request and return its reply."""
        ident = "call-{}".format(os.urandom(4).hex())
        self.send_text(request(command, *args, id=ident, **kwargs))
        return self.reply_to(ident, timeout)

    def read_in_background(self):
        """Read every frame on a thread of its own from now on, answering pings; return self."""
        self.messages = queue.Queue()
        self.sock.settimeout(None)
        threading.Thread(target=self._read_all, daemon=True).start()
        return self

    def _read_all(self):
        try:
            while True:
                self.messages.put(self._next_data_frame())
        except (EOFError, OSError) as ended:
            self.messages.put(EOFError(str(ended)))

    def read_to_end(self, timeout=10):
        """Every frame until the server ends the connection, pings included."""
        self.sock.settimeout(timeout)
        frames = []
        while True:
            try:
                frames.append(self.recv_frame())
            except EOFError:
                return frames

    # A stalled client reads nothing, but may look.

    def has_data(self):
        """Whether the server has sent something not read yet; reads nothing."""
        return bool(self.buffer) or bool(select.select([self.sock], [], [], 0)[0])

    def close(self):
        self.sock.close()


def client_thread_alive(port):
    """Whether the server's thread for the client connected from local *port* still runs."""
    suffix = ":{}".format(port)
    return any(thread.name.startswith("liaison-client") and thread.name.endswith(suffix)
               for thread in threading.enumerate())


@contextlib.contextmanager
def serve(server):
    """Serve *server* on a thread for the ``with`` block, which gets its port; stop it after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()


def send_until_stalled(sock, messages, stall=1.0):
    """Send *messages* in order without blocking, until the socket takes nothing for *stall* seconds.

    Returns how many went whole, and the unsent rest of the one cut short (None if all went).
    """
    for count, data in enumerate(messages):
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view, socket.MSG_DONTWAIT):]
            except BlockingIOError:
                if not select.select([], [sock], [], stall)[1]:
                    return count, bytes(view)
    return len(messages), None
