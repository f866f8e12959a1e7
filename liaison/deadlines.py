"""One thread that calls functions at their deadlines, for a whole server: not a thread per deadline."""
import heapq
import itertools
import threading
import time

from .logs import logger

__all__ = ["Deadlines"]


class Deadlines:
    """Call functions when their deadlines pass, one after another, on one daemon thread started on first use.

    Methods for the caller: :meth:`call_later` (returns a handle whose
    ``cancel()`` takes the call back), :meth:`stop`. The functions must be
    short and must not wait (they run on the one thread every deadline shares).
    """

    _unreachable_by_targets = True

    def __init__(self, name="liaison-deadlines"):
        self.name = name
        # Guards the heap, the thread and the stopped flag; bookkeeping only (nothing waits under it
        # but the thread itself, on its condition).
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._heap = []
        self._order = itertools.count()
        self._thread = None
        self._stopped = False
        self._cancelled = 0  # entries in the heap that were cancelled

    def call_later(self, delay, fn, *args):
        """Call ``fn(*args)`` in *delay* seconds unless the returned handle is cancelled first."""
        entry = _Entry(self, time.monotonic() + delay, next(self._order), fn, args)
        with self._lock:
            if self._stopped:
                entry.fn = entry.args = None
                return entry
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._changed.notify()
            start = self._thread is None
            if start:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        if start:
            self._thread.start()
        return entry

    def stop(self):
        """Drop every pending call and end the thread."""
        with self._lock:
            self._stopped = True
            self._heap = []
            self._cancelled = 0
            self._changed.notify()

    def _run(self):
        while True:
            with self._lock:
                entry = None
                while entry is None and not self._stopped:
                    while self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                        self._cancelled -= 1
                    if not self._heap:
                        self._changed.wait()
                        continue
                    wait = self._heap[0].when - time.monotonic()
                    if wait > 0:
                        self._changed.wait(wait)
                        continue
                    entry = heapq.heappop(self._heap)
                if self._stopped:
                    return
                fn, args = entry.fn, entry.args
                entry.fn = entry.args = None  # it runs now: a cancel() from here on changes nothing
            try:
                fn(*args)
            except Exception:
                logger.exception("a deadline's function failed")
            entry = fn = args = None

    def _cancel(self, entry):
        """Take *entry* back; rebuild the heap once it is mostly cancelled entries, so memory stays bounded."""
        with self._lock:
            if entry.cancelled or entry.fn is None or self._stopped:
                return
            entry.cancelled = True
            entry.fn = entry.args = None
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [known for known in self._heap if not known.cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0


class _Entry:
    """One pending call; ``cancel()`` makes the thread skip it."""

    __slots__ = ("owner", "when", "order", "fn", "args", "cancelled")

    def __init__(self, owner, when, order, fn, args):
        self.owner = owner
        self.when = when
        self.order = order
        self.fn = fn
        self.args = args
        self.cancelled = False

    def __lt__(self, other):
        return (self.when, self.order) < (other.when, other.order)

    def cancel(self):
        """Take the call back (no effect once it has begun)."""
        self.owner._cancel(self)
