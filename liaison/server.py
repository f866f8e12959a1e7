"""What every transport shares: a Companion, and turning one message into one reply."""
import logging
import time

from . import protocol
from .companion import Companion

__all__ = ["Liaison"]

logger = logging.getLogger("liaison")


class Liaison:
    """Base class of servers: owns a :class:`Companion` and answers messages with replies.

    A transport subclass receives messages, passes each to :meth:`handle_message`
    and sends back the bytes it returns. The Companion's namespace holds the
    server as ``liaison``, so a client can ``run liaison.stop``.
    """

    def __init__(self, companion=None):
        self.companion = Companion() if companion is None else companion
        self.companion.namespace["liaison"] = self

    def handle_message(self, message):
        """Answer one message (bytes or text) with the UTF-8 bytes of exactly one reply."""
        try:
            request = protocol.parse(message)
        except protocol.ProtocolError as problem:
            logger.debug("bad request: %s", problem)
            return protocol.error(problem)
        started = time.perf_counter()
        try:
            result = self.companion.dispatch(request.command, request.args, request.kwargs)
        except BaseException as problem:
            # SystemExit and KeyboardInterrupt from called code must not kill a client thread.
            logger.debug("%s failed after %.3f s: %r", request.command, time.perf_counter() - started, problem)
            return protocol.error(problem, request)
        logger.debug("%s took %.3f s", request.command, time.perf_counter() - started)
        # The parsed arguments may be as large as the message: free them before the reply is built.
        request.args = request.kwargs = None
        return protocol.response(result, request)

    def stop(self):
        """Stop serving; transports implement this."""
        raise NotImplementedError
