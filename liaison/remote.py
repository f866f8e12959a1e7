"""What a client makes of a reply: the response, or a :class:`RemoteError` raised in its place.

Nothing here knows about sockets, so every Python client shares it; importing it needs no
third-party package.
"""

__all__ = ["RemoteError", "result", "remote_error", "is_reply"]

#: How many of the remote traceback's last frames ``str(RemoteError)`` shows.
_SHOWN_FRAMES = 3


class RemoteError(Exception):
    """The remote liaison answered with an error: its exception type name, message and traceback.

    *traceback* is the remote traceback as a list of lines, with no newline in any (the reply's
    ``error`` split into lines). ``str()`` gives ``"Type: message"`` followed by the last frames
    of the exception's own traceback, so an uncaught one shows where it happened.
    """

    def __init__(self, type, message, traceback=()):
        super().__init__(type, message, list(traceback))
        self.type = type
        self.message = message
        self.traceback = list(traceback)

    def __str__(self):
        frames = _last_frames(self.traceback, _SHOWN_FRAMES)
        if not frames:
            return headline(self.type, self.message)
        return "\n".join([headline(self.type, self.message), "Raised in the liaison server at:"] + frames)


def headline(type, message):
    """``Type: message``, or just ``Type`` for an exception without a message, as Python prints them."""
    return "{}: {}".format(type, message) if message else type


def is_reply(message):
    """Whether a parsed message is the reply to a request (it echoes the request as ``evt``) rather than a push."""
    return isinstance(message, dict) and message.get("tag") in ("response", "error") and "evt" in message


def result(reply):
    """The response a parsed reply carries, or raise :class:`RemoteError` for an error reply."""
    if reply.get("tag") == "error":
        raise remote_error(reply)
    return reply["response"]


def remote_error(reply):
    """The :class:`RemoteError` an error reply stands for.

    Type and message come from the reply's ``exception``; an upstream liaison-py server sends
    only the traceback (as ``traceback.format_exception`` gives it), so they are read from its end.
    """
    lines = _lines(reply.get("error"))
    exception = reply.get("exception")
    if isinstance(exception, dict):
        return RemoteError(exception.get("type"), exception.get("message"), lines)
    type, _, message = "\n".join(lines[_exception_start(lines):]).partition(": ")
    return RemoteError(type.rpartition(".")[2], message, lines)


def _lines(error):
    """The traceback in an ``error`` field as one string per line, whether it came as
    ``format_exception``'s items ending in newlines, several lines in some (liaison-py and
    liaison-backend), or one line per item (earlier liaison-backend)."""
    if isinstance(error, str):
        error = [error]
    if not isinstance(error, list):
        return [] if error is None else [str(error)]
    text = "".join(item if item.endswith("\n") else item + "\n" for item in map(str, error))
    return text[:-1].split("\n") if text else []


#: The lines that join the exceptions of a chain in a traceback, each between two blank lines.
_CHAIN_LINES = ("The above exception was the direct cause of the following exception:",
                "During handling of the above exception, another exception occurred:")


def _last_exception_start(lines):
    """The index of the first line about the last exception of a chain: past the last line joining two."""
    joins = [index for index, line in enumerate(lines) if line in _CHAIN_LINES]
    return joins[-1] + 2 if joins else 0


def _exception_start(lines):
    """The index of the first line of the final ``Type: message`` part: the line after the last
    exception's last frame."""
    begin = start = _last_exception_start(lines)
    for index, line in enumerate(lines[begin:], begin):
        if line.startswith('  File "'):
            start = index + 1
        elif start == index > begin and line.startswith("    "):
            start = index + 1  # the frame's source line, or the carets under it
    return start


def _last_frames(lines, count):
    """The lines of the last *count* frames of the last exception's traceback (each ``File`` line
    with its source lines)."""
    begin, end = _last_exception_start(lines), _exception_start(lines)
    starts = [index for index in range(begin, end) if lines[index].startswith('  File "')]
    return lines[starts[-count:][0]:end] if starts else []
