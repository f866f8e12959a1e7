"""RFC 6455 frames: read one from a stream, unmask it, build one to send.

Reading takes three reads at most per frame: the payload goes straight into one
buffer, which is unmasked in place, slice by slice, with ``bytes.translate``
(or numpy, when the process has already imported it; or, under 1 KiB, as one
integer XOR); never with a Python loop over bytes, never with a copy of a large
payload.
"""
import struct
import sys

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

    Raises :class:`FrameError` for frames the protocol forbids or data frames
    longer than *max_size*, before reading their payload; control frames are
    never over 125 bytes and do not count toward a message's size.
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
    extended = 2 if length == 126 else 8 if length == 127 else 0
    rest = read_exactly(rfile, extended + 4)
    if extended:
        length = int.from_bytes(rest[:extended], "big")
        if length >> 63:
            raise FrameError(1002, "payload length has its most significant bit set")
    if length > max_size and opcode in DATA_OPCODES:
        raise FrameError(1009, "message of {} bytes is over the limit of {} bytes".format(length, max_size))
    return fin, opcode, unmask(read_payload(rfile, length), rest[extended:])


def read_payload(rfile, length):
    """Read *length* bytes into a new bytearray, letting large reads go straight into it."""
    payload = bytearray(length)
    received = rfile.readinto(payload) if length else 0
    while received < length:
        more = rfile.readinto(memoryview(payload)[received:])
        if not more:
            raise ConnectionClosed("connection closed after {} of {} bytes".format(received, length))
        received += more
    return payload


#: Payloads shorter than this (most requests) are unmasked as one integer XOR: fewer steps than translating.
SMALL_PAYLOAD = 1024
#: Payloads at least this long are unmasked with numpy, if the process has imported it.
NUMPY_THRESHOLD = 4096
#: Bytes unmasked per slice: a multiple of 4 small enough for the CPU cache and to add little to memory.
UNMASK_CHUNK = 1 << 18
_IDENTITY = int.from_bytes(bytes(range(256)), "big")
#: ``_XOR_TABLES[m]`` is the ``bytes.translate`` table that XORs every byte with *m*.
_XOR_TABLES = [(_IDENTITY ^ int.from_bytes(bytes((m,)) * 256, "big")).to_bytes(256, "big") for m in range(256)]


def unmask(payload, mask):
    """XOR the bytearray *payload* in place with the repeating 4-byte *mask*; return it.

    numpy is used only if something in the process imported it already: it is
    never imported here, so no client's request pays for that (over 0.1 s).
    """
    if len(payload) < SMALL_PAYLOAD:
        return _xor_small(payload, mask)
    numpy = sys.modules.get("numpy") if len(payload) >= NUMPY_THRESHOLD else None
    start = 0
    if numpy is not None and hasattr(numpy, "bitwise_xor"):
        start = _xor_words(numpy, payload, mask)
    _translate_lanes(payload, mask, start)
    return payload


def _xor_small(payload, mask):
    """Unmask a short *payload* in place as one big-integer XOR with the repeated mask; return it."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    payload[:] = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")
    return payload


def _xor_words(numpy, payload, mask):
    """XOR the whole 4-byte words of *payload* with numpy; return where the rest begins.

    Its view of *payload* is gone on return, so that the bytearray may be sliced into again.
    """
    words = numpy.frombuffer(payload, numpy.uint32, len(payload) // 4)
    numpy.bitwise_xor(words, numpy.frombuffer(mask, numpy.uint32)[0], out=words)
    return words.size * 4


def _translate_lanes(payload, mask, start):
    """Unmask *payload* from *start* (a multiple of 4): per slice, each of the four byte lanes
    ``slice[i::4]`` goes through the translate table of ``mask[i]``."""
    tables = [_XOR_TABLES[byte] for byte in mask]
    size = len(payload)
    for begin in range(start, size, UNMASK_CHUNK):
        end = min(begin + UNMASK_CHUNK, size)
        for first, table in zip(range(begin, min(begin + 4, end)), tables):
            payload[first:end:4] = payload[first:end:4].translate(table)


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
