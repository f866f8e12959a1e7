"""RFC 6455 frames: read one from a stream, unmask it, build one to send.

Reading takes three ``read`` calls at most per frame and unmasks the payload
with one big-integer XOR instead of a Python loop over bytes.
"""
import struct

__all__ = [
    "CONTINUATION", "TEXT", "BINARY", "CLOSE", "PING", "PONG",
    "FrameError", "read_frame", "unmask", "header", "close_payload", "parse_close",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = (CONTINUATION, TEXT, BINARY)
CONTROL_OPCODES = (CLOSE, PING, PONG)

#: Close codes a peer may send (RFC 6455 section 7.4).
_VALID_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


class FrameError(Exception):
    """A frame the server must answer by closing with *code* (1002, 1007 or 1009)."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConnectionClosed(Exception):
    """The peer closed the TCP connection in the middle of (or before) a frame."""


def read_exactly(rfile, count):
    """Read *count* bytes or raise :class:`ConnectionClosed`."""
    data = rfile.read(count)
    if data is None or len(data) < count:
        raise ConnectionClosed("connection closed after {} of {} bytes".format(len(data or b""), count))
    return data


def read_frame(rfile, max_size):
    """Read one client frame; return ``(fin, opcode, payload)`` with the payload unmasked.

    Raises :class:`FrameError` for frames the protocol forbids or that are longer
    than *max_size*, before reading their payload.
    """
    first, second = read_exactly(rfile, 2)
    fin = bool(first & 0x80)
    opcode = first & 0x0F
    if first & 0x70:
        raise FrameError(1002, "reserved bits set without a negotiated extension")
    if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
        raise FrameError(1002, "unknown opcode {:#x}".format(opcode))
    if not second & 0x80:
        raise FrameError(1002, "client frames must be masked")
    length = second & 0x7F
    if opcode in CONTROL_OPCODES:
        if length > 125:
            raise FrameError(1002, "control frame payload longer than 125 bytes")
        if not fin:
            raise FrameError(1002, "control frames must not be fragmented")
    if length == 126:
        length, = struct.unpack("!H", read_exactly(rfile, 2))
    elif length == 127:
        length, = struct.unpack("!Q", read_exactly(rfile, 8))
        if length >> 63:
            raise FrameError(1002, "payload length has its most significant bit set")
    if length > max_size:
        raise FrameError(1009, "message of {} bytes is over the limit of {} bytes".format(length, max_size))
    mask = read_exactly(rfile, 4)
    return fin, opcode, unmask(read_exactly(rfile, length), mask)


def unmask(data, mask):
    """XOR *data* with the repeating 4-byte *mask*, as one big-integer operation."""
    size = len(data)
    if not size:
        return b""
    key = mask * (size // 4 + 1)
    value = int.from_bytes(data, "little") ^ int.from_bytes(key[:size], "little")
    return value.to_bytes(size, "little")


def header(opcode, length, fin=True):
    """The header of an unmasked server frame with a payload of *length* bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def close_payload(code, reason=""):
    """The payload of a close frame: the code and a reason cut to fit in 125 bytes."""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123].decode("utf-8", "ignore").encode("utf-8")


def parse_close(payload):
    """Check a client close payload; return its code (1005 if none) or raise :class:`FrameError`."""
    if not payload:
        return 1005
    if len(payload) == 1:
        raise FrameError(1002, "close frame with a one-byte payload")
    code, = struct.unpack("!H", payload[:2])
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise FrameError(1002, "invalid close code {}".format(code))
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(1007, "close reason is not valid UTF-8")
    return code
