"""Stopping Python code that runs on another thread: raise an exception in it.

CPython's ``PyThreadState_SetAsyncExc`` makes a thread raise an exception at its
next bytecode, so a pure-Python loop stops at once, while a blocking C call
(``time.sleep(60)``, a socket read) ends first.
"""
import ctypes
import threading

__all__ = ["Cancelled", "Interruptible", "cancelled"]

# Two prototypes of one C function: with an exception type to raise, and with NULL to take one back.
_set_async_exc = ctypes.pythonapi["PyThreadState_SetAsyncExc"]
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_clear_async_exc = ctypes.pythonapi["PyThreadState_SetAsyncExc"]
_clear_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)

_local = threading.local()


class Cancelled(BaseException):
    """A command was cancelled: by its client, by its deadline, or because the server stops.

    A ``BaseException``, like ``KeyboardInterrupt``, so that ``except Exception``
    in called code does not swallow it.
    """

    def __str__(self):
        return super().__str__() or "the command was cancelled before it finished"


def cancelled():
    """Whether the command running on this thread has been asked to stop.

    Long loops in called code may check it to stop cleanly, or at a C call
    that the interrupting exception cannot break into.
    """
    running = getattr(_local, "running", None)
    return running is not None and running.asked


class Interruptible:
    """One function's run on some thread, which another thread may interrupt (once).

    :meth:`interrupt` raises :class:`Cancelled` in the thread while :meth:`run`
    is inside the function, makes a later :meth:`run` raise it without calling
    the function, and does nothing once the function has returned: an exception
    is never raised in code that is not the function's. A function that was
    asked to stop and returns (having checked :func:`cancelled`) ends in
    :class:`Cancelled` all the same, so that "interrupted" always means so.
    """

    def __init__(self):
        # Guards ``_thread`` (the ident running the function, or None), ``_done`` and ``asked``, so that
        # an interruption reaches the function and nothing else. Bookkeeping only; nothing blocks under it.
        self._lock = threading.Lock()
        self._thread = None
        self._done = False
        #: Whether :meth:`interrupt` was called (read by :func:`cancelled`).
        self.asked = False

    def run(self, fn):
        """Call *fn* on this thread, interruptible until it returns; return its result."""
        with self._lock:
            if self.asked:
                self._done = True
                raise Cancelled()
            self._thread = threading.get_ident()
        previous = getattr(_local, "running", None)
        _local.running = self
        try:
            result = fn()
        finally:
            while True:
                try:
                    self._finish(previous)
                    break
                except Cancelled:
                    continue  # the interruption landed as the function returned; it is reported below
        if self.asked:
            raise Cancelled()  # asked while it ran: it stopped because of that, or would have
        return result

    def _finish(self, previous):
        """Stop being interruptible, taking back an interruption not yet raised."""
        with self._lock:
            self._thread = None
            self._done = True
            if self.asked:
                _clear_async_exc(threading.get_ident(), None)
        _local.running = previous

    def interrupt(self):
        """Stop the function (now, or before it starts); return False if it already returned.

        Call it from another thread than the function's.
        """
        with self._lock:
            if self._done:
                return False
            if not self.asked:
                self.asked = True
                if self._thread is not None:
                    _set_async_exc(self._thread, Cancelled)
            return True
