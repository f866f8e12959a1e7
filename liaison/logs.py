"""The ``liaison`` logger, and logging in a process liaison owns (``python -m liaison.<transport>``).

:data:`logger` stands for ``logging.getLogger("liaison")``, which every module
of liaison logs through; the ``logging`` module is imported when the first
record is made (it costs milliseconds of start-up, and a server at the default
level may never log).

In a process liaison owns, :func:`configure` sends the records to stderr
without ever waiting on a lock or a reader for long. Served code may be
cancelled while it holds the ``logging`` module's lock or one of its handlers'
locks (the standard library takes them by ``acquire(); try:``, which an
asynchronous exception can cut), and a frontend may stop reading stderr.
Liaison's own threads must still log and stop, so its records go only to a
handler of its own (not to the root logger's handlers), which takes its lock
and writes to file descriptor 2 by a deadline, and the logger decides whether
a level is enabled without the module's lock.
"""
import os
import select
import threading
import time

from .interrupt import shielded

__all__ = ["logger", "configure", "write_stderr", "WRITE_TIMEOUT"]

#: Seconds a log record (or a last word before exiting) may wait for its turn and for stderr to take it;
#: past that it is dropped.
WRITE_TIMEOUT = 1.0

#: Bytes per write: a pipe that polls writable takes this many at once (POSIX's PIPE_BUF, at least 512).
_ATOMIC_WRITE = getattr(select, "PIPE_BUF", 512)

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40, "critical": 50,
           "fatal": 50}


class _Logger:
    """``logging.getLogger("liaison")``, reached on first use; once :func:`configure` has set a level,
    records below it are dropped without importing ``logging``."""

    def __init__(self):
        self._floor = 0  # records below this level are dropped unmade (0: every record is made)
        self._stderr_level = None  # configure()'s level, to set up when logging is imported
        self._logger = None
        # Guards the first use, so that logging is set up once. Taken alone, around an import.
        self._lock = threading.Lock()

    def __getattr__(self, name):
        if _LEVELS.get(name, 100) < self._floor:
            return _drop
        return getattr(self._real(), name)

    def _real(self):
        """The ``liaison`` logger: the logging module's, or, once :func:`configure` said so, one of
        liaison's own that sends records to stderr (made without the logging module's lock)."""
        if self._logger is not None:
            return self._logger
        with self._lock:
            if self._logger is None:
                import logging
                if self._stderr_level is None:
                    self._logger = logging.getLogger("liaison")
                else:
                    self._logger = _stderr_logger(logging, _LEVELS[self._stderr_level.lower()])
            return self._logger


def _drop(*args, **kwargs):
    """A record below the level set: nothing to make."""


#: What liaison logs through: ``logger.info(...)`` as on any logger.
logger = _Logger()


def configure(level):
    """Send the ``liaison`` logger's records at *level* (a name such as ``"INFO"``) and above to stderr, and
    nowhere else; logging is set up when the first such record comes."""
    logger._stderr_level = level
    logger._floor = _LEVELS[level.lower()]


def _stderr_logger(logging, level):
    """A logger named ``liaison`` whose records at *level* go to stderr only, by a deadline.

    It is not the logging module's ``getLogger("liaison")``: getting that one,
    adding a handler, setting a level and making a ``logging.Handler`` all take
    the logging module's lock, which cancelled served code may hold when the
    first record comes. Nothing here takes it.
    """
    log = logging.Logger("liaison", level)
    log.handlers.append(_StderrHandler(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s")))
    log.propagate = False
    log.isEnabledFor = lambda level: not log.disabled and log.manager.disable < level and level >= log.level
    return log


class _StderrHandler:
    """Writes each record as a line to file descriptor 2 by :data:`WRITE_TIMEOUT`, or drops it: a handler
    as ``Logger.callHandlers`` uses one (``level`` and ``handle``), not a ``logging.Handler``, whose making
    takes the logging module's lock."""

    level = 0

    def __init__(self, formatter):
        self.formatter = formatter
        # Keeps records whole on stderr; taken by a deadline, in a shielded section, on its own.
        self._lock = threading.Lock()

    def handle(self, record):
        with shielded():
            if not self._lock.acquire(timeout=WRITE_TIMEOUT):
                return False
            try:
                text = self._format(record)
                if text is not None:
                    write_stderr(text.encode("utf-8", "backslashreplace"), WRITE_TIMEOUT)
            finally:
                self._lock.release()
        return True

    def _format(self, record):
        """The record as a line; a record whose message cannot be made says so instead."""
        try:
            return self.formatter.format(record) + "\n"
        except Exception as problem:
            return "liaison: a log record could not be formatted: {!r}\n".format(problem)


def write_stderr(data, timeout):
    """Write *data* to file descriptor 2 within *timeout* seconds where pipes can be polled; return whether
    it all went."""
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    try:
        while view:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(2, select.POLLOUT)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not poller.poll(remaining * 1000):
                    return False
            view = view[os.write(2, view[:_ATOMIC_WRITE]):]
    except OSError:
        return False
    return True

