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
    return getattr(_local, "asked", None) is not None and _local.asked.is_set()


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
        # Guards ``_thread`` (the ident running the function, or None) and ``_done``, so that an
        # interruption reaches the function and nothing else. Bookkeeping only; nothing blocks under it.
        self._lock = threading.Lock()
        self._thread = None
        self._done = False
        self._asked = threading.Event()

    def run(self, fn):
        """Call *fn* on this thread, interruptible until it returns; return its result."""
        with self._lock:
            if self._asked.is_set():
                self._done = True
                raise Cancelled()
            self._thread = threading.get_ident()
        previous = getattr(_local, "asked", None)
        _local.asked = self._asked
        try:
            result = fn()
        finally:
            while True:
                try:
                    self._finish(previous)
                    break
                except Cancelled:
                    continue  # the interruption landed as the function returned; it is reported below
        if self._asked.is_set():
            raise Cancelled()  # asked while it ran: it stopped because of that, or would have
        return result

    def _finish(self, previous):
        """Stop being interruptible, taking back an interruption not yet raised."""
        with self._lock:
            self._thread = None
            self._done = True
            if self._asked.is_set():
                _clear_async_exc(threading.get_ident(), None)
        _local.asked = previous

    def interrupt(self):
        """Stop the function (now, or before it starts); return False if it already returned.

        Called on the thread that runs the function (from a signal handler),
        it raises :class:`Cancelled` itself, which also ends a blocking call
        such as ``time.sleep`` that the signal interrupted.
        """
        with self._lock:
            if self._done:
                return False
            if self._asked.is_set():
                return True
            self._asked.set()
            here = self._thread == threading.get_ident()
            if self._thread is not None and not here:
                _set_async_exc(self._thread, Cancelled)
        if here:
            raise Cancelled()
        return True
