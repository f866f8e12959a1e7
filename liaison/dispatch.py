"""Running commands on the main thread, as GUI toolkits (and macOS windows) require: the CLI's dispatcher."""
import collections
import threading

__all__ = ["MainThreadDispatcher"]


class MainThreadDispatcher:
    """A queue of functions that :meth:`run` calls one by one, in order, on the thread that runs it.

    Pass :meth:`submit` as a server's ``dispatcher``; call :meth:`run` on the
    main thread; :meth:`stop` (from any thread) makes it return.
    """

    _unreachable_by_targets = True

    def __init__(self):
        # Guards the queue and the stopped flag; bookkeeping only (see liaison/session.py).
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._jobs = collections.deque()
        self._stopped = False

    def submit(self, fn):
        """Have ``fn()`` called on the dispatcher's thread soon (the ``dispatcher`` a server calls)."""
        with self._lock:
            self._jobs.append(fn)
            self._ready.notify()

    def run(self):
        """Call submitted functions until :meth:`stop`.

        The functions handed over by servers never raise.
        """
        while True:
            with self._lock:
                while not self._jobs and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                fn = self._jobs.popleft()
            fn()
            fn = None

    def stop(self):
        """Make :meth:`run` return after the function it is running; functions not started are not run."""
        with self._lock:
            self._stopped = True
            self._ready.notify()
