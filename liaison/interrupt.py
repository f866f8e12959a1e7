"""Stopping called code that runs on another thread: raise an exception in it, but only where that is safe.

CPython's ``PyThreadState_SetAsyncExc`` makes a thread raise an exception at
its next check point, whatever it runs then: a pure-Python loop stops at once
(a blocking C call such as ``time.sleep(60)`` ends first), but so would
liaison's own code, between taking a lock and the ``try`` that releases it,
or between two writes of one message. So a command's thread is *exposed* to
interruption only while it runs called code: :func:`call_exposed` opens such
a window around each call into code that is not liaison's, and
:func:`shielded` closes it again for the length of a ``with`` block (liaison's
sends, pushes and log handler use it; command authors may too). An
interruption asked for while the thread is shielded is raised when the
shielded section ends.

Why a raise never lands inside a shielded section: the interrupting thread
raises only while the window is open, under :attr:`Interruptible._lock`;
closing the window takes that lock, then calls :func:`_check_point`, at which
an exception raised just before the window closed is delivered at the latest.
So it can land only before the section has done anything.
"""
import threading

__all__ = ["Cancelled", "Interruptible", "call_exposed", "cancelled", "shielded"]

_local = threading.local()


def _async_raiser():
    """CPython's ``PyThreadState_SetAsyncExc``, through ctypes, imported on the first interruption (ctypes
    costs milliseconds of start-up)."""
    global _set_async_exc
    if _set_async_exc is None:
        import ctypes
        setter = ctypes.pythonapi["PyThreadState_SetAsyncExc"]
        setter.argtypes = (ctypes.c_ulong, ctypes.py_object)
        _set_async_exc = setter
    return _set_async_exc


_set_async_exc = None


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
    job = getattr(_local, "job", None)
    return job is not None and job.asked


def _check_point():
    """Do nothing, in a Python frame of its own: entering it delivers an exception raised in this thread."""


class Interruptible:
    """One function's run on some thread, which another thread may interrupt (once).

    :meth:`interrupt` raises :class:`Cancelled` in the thread while it runs
    called code (inside :func:`call_exposed`), defers it while the thread runs
    liaison's own code (it is raised when the next window opens or the
    shielded section ends), makes a later :meth:`run` raise it without calling
    the function, and does nothing once the function has returned. A function
    that was asked to stop and returns (having checked :func:`cancelled`) ends
    in :class:`Cancelled` all the same, so that "interrupted" always means so.
    """

    __slots__ = ("_lock", "_thread", "_exposed", "_done", "_raised", "asked")

    def __init__(self):
        # Guards every attribute below, so that an exception is raised in the thread only while it is
        # exposed, and at most once. Taken alone; nothing blocks under it.
        self._lock = threading.Lock()
        self._thread = None  # the ident of the thread running the function
        self._exposed = False  # that thread runs called code now: an interruption may be raised in it
        self._done = False
        self._raised = False  # Cancelled was raised in the thread, or is on its way there
        #: Whether :meth:`interrupt` was called (read by :func:`cancelled`).
        self.asked = False

    def run(self, fn):
        """Call *fn* on this thread, shielded but for its :func:`call_exposed` windows; return its result."""
        with self._lock:
            if self.asked:
                self._done = self._raised = True
                raise Cancelled()
            self._thread = threading.get_ident()
        previous = getattr(_local, "job", None)
        _local.job = self
        try:
            result = fn()
        finally:
            _local.job = previous
            with self._lock:
                self._thread = None
                self._done = True
                asked = self.asked
        if asked:
            raise Cancelled()  # asked while it ran: it stopped because of that, or would have
        return result

    def interrupt(self):
        """Stop the function (now, when its thread next runs called code, or before it starts);
        return False if it already returned.

        Call it from another thread than the function's.
        """
        raise_in = _async_raiser()
        with self._lock:
            if self._done:
                return False
            self.asked = True
            if self._exposed and not self._raised:
                self._raised = True
                raise_in(self._thread, Cancelled)
            return True

    def _expose(self):
        """Open the window: from now on an interruption is raised at once; one asked for already is raised now."""
        with self._lock:
            if self.asked and not self._raised:
                self._raised = True
                raise Cancelled()
            self._exposed = True

    def _cover(self):
        """Close the window; return whether it was open. An exception raised just before is delivered here."""
        with self._lock:
            was_exposed = self._exposed
            self._exposed = False
        _check_point()
        return was_exposed


def call_exposed(fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)``, code that is not liaison's, where the running command may be interrupted.

    Outside a command (no :class:`Interruptible` runs on this thread) it is a plain call.
    """
    job = getattr(_local, "job", None)
    if job is None:
        return fn(*args, **kwargs)
    job._expose()
    try:
        return fn(*args, **kwargs)
    finally:
        job._cover()


class shielded:
    """``with shielded(): ...``: an interruption of the running command waits until the block has ended.

    For a section that must not be cut in the middle (a write of several parts,
    a lock taken by hand); an interruption asked for meanwhile is raised as the
    block ends. It shields only from :class:`Cancelled`: a lock taken inside by
    other code can still be left held by Ctrl-C. Outside a command it does nothing.
    """

    __slots__ = ("_job", "_was_exposed")

    def __enter__(self):
        self._job = job = getattr(_local, "job", None)
        self._was_exposed = job is not None and job._cover()
        return self

    def __exit__(self, *exc_info):
        if self._was_exposed:
            self._job._expose()
