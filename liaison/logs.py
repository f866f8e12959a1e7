"""Logging in a process liaison owns (``python -m liaison.<transport>``): the ``liaison`` logger's
records to stderr, without ever waiting on a lock or a reader for long.

Served code may be cancelled while it holds the ``logging`` module's lock or
one of its handlers' locks (the standard library takes them by
``acquire(); try:``, which an asynchronous exception can cut), and a frontend
may stop reading stderr. Liaison's own threads must still log and stop, so its
records go only to :class:`StderrHandler` (not to the root logger's
handlers), which takes its own lock by a deadline and writes to file
descriptor 2 by a deadline, and the logger decides whether a level is enabled
without the module's lock.
"""
import logging
import os
import select
import time

from .interrupt import shielded

__all__ = ["configure", "StderrHandler", "write_stderr", "WRITE_TIMEOUT"]

#: Seconds a log record (or a last word before exiting) may wait for its turn and for stderr to take it;
#: past that it is dropped.
WRITE_TIMEOUT = 1.0

#: Bytes per write: a pipe that polls writable takes this many at once (POSIX's PIPE_BUF, at least 512).
_ATOMIC_WRITE = getattr(select, "PIPE_BUF", 512)


def configure(level):
    """Send the ``liaison`` logger's records at *level* and above to stderr, and nowhere else."""
    log = logging.getLogger("liaison")
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    log.isEnabledFor = lambda level: _enabled(log, level)


def _enabled(log, level):
    """``Logger.isEnabledFor`` without its cache, whose misses take the logging module's lock."""
    return not log.disabled and log.manager.disable < level and level >= log.getEffectiveLevel()


class StderrHandler(logging.Handler):
    """Write each record as a line to file descriptor 2, by :data:`WRITE_TIMEOUT`, or drop it."""

    def handle(self, record):
        if not self.filter(record):
            return False
        with shielded():
            if not self.lock.acquire(timeout=WRITE_TIMEOUT):
                return False
            try:
                self.emit(record)
            finally:
                self.lock.release()
        return True

    def emit(self, record):
        try:
            text = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        write_stderr(text.encode("utf-8", "backslashreplace"), WRITE_TIMEOUT)


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

