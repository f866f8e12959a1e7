"""What a client makes of a reply: the response, or a :class:`RemoteError` raised in its place.

Nothing here knows about sockets, so every Python client shares it; importing it needs no
third-party package.
"""

__all__ = ["RemoteError", "result"]


class RemoteError(Exception):
    """The remote liaison answered with an error: its exception type name, message and traceback.

    *traceback* is the remote traceback as a list of lines; ``str()`` gives ``"Type: message"``.
    """

    def __init__(self, type, message, traceback=()):
        super().__init__(type, message, list(traceback))
        self.type = type
        self.message = message
        self.traceback = list(traceback)

    def __str__(self):
        return "{}: {}".format(self.type, self.message)


def result(reply):
    """The response a parsed reply carries, or raise :class:`RemoteError` for an error reply."""
    if reply.get("tag") == "error":
        error = reply["error"]
        raise RemoteError(error["type"], error["message"], error["traceback"])
    return reply["response"]
