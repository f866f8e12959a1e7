"""What a running command reports to the client that called it: its output and its progress.

While a command runs on some thread, a :class:`Report` is attached to that
thread. What the thread writes to ``sys.stdout`` and ``sys.stderr``, the
logging records emitted on it and the warnings it shows are captured (if the
client asked for output) and sent to the client as ``{"tag": "stream", "id",
"name", "text"}`` messages, batched; :func:`progress` sends ``{"tag":
"progress", "id", "done", "total", "message"}``, rate-limited. Everything a
report holds is sent before the command's reply. Other threads, and commands
of other clients, are never captured: the process-wide streams route each
write by the thread that makes it, and are put back once no command captures.
"""
import sys
import threading
import time
import warnings

from . import protocol
from .interrupt import shielded

__all__ = ["Report", "progress", "OUTPUT_BATCH_BYTES", "OUTPUT_BATCH_SECONDS", "PROGRESS_SECONDS"]

#: Most text one output message carries, in bytes (UTF-8); a batch this large is sent at once.
OUTPUT_BATCH_BYTES = 64 * 1024

#: Most seconds output waits to be sent with what follows it.
OUTPUT_BATCH_SECONDS = 0.05

#: Least seconds between two progress messages of one request; the latest one waiting is sent then.
PROGRESS_SECONDS = 0.05

#: The report of the command running on each thread (thread ident -> Report).
_reports = {}

# Guards the streams installed in sys (and the count of reports that capture), so that the
# originals are put back exactly when the last capture ends. Taken alone; bookkeeping only.
_install_lock = threading.Lock()
_capturing = 0
_originals = {}  # name in sys -> the stream that was there
_installed = {}  # "log" -> the handler on the root logger, once there: it stays


class Report:
    """What one command sends its client besides its reply: captured output and progress.

    *capture* is None (no capture) or the least logging level captured;
    *progress* says whether :func:`progress` messages go to the client.
    Methods for the server: :meth:`start` and :meth:`finish` on the command's
    thread around the command; :meth:`flush` before a streamed item.
    """

    def __init__(self, session, request_id, capture, progress, deadlines):
        self.session = session
        self.id = request_id
        self.capture = capture
        self.progress = progress
        self.deadlines = deadlines
        # Guards the batch, the pending progress and the scheduled sends; taken before the session's
        # lock (a batch is queued for the client under it, so that batches leave in order).
        self._lock = threading.Lock()
        self._batch = []  # (name, [text, ...]): what was written, consecutive writes to one stream together
        self._batch_bytes = 0
        self._flush_at = None  # the deadline entry that sends the batch
        self._last_progress = 0.0
        self._pending_progress = None
        self._progress_at = None
        self._thread = None

    # On the command's thread.

    def start(self):
        """Attach to this thread: its output and progress are this report's from now on."""
        self._thread = threading.get_ident()
        _reports[self._thread] = self
        if self.capture is not None:
            _install()

    def finish(self):
        """Detach from the thread and send everything held, before the reply is queued."""
        _reports.pop(self._thread, None)
        if self.capture is not None:
            _uninstall()
        self.flush()

    # Output.

    def write(self, name, text):
        """Add *text* written to stream *name* to the batch: sent at once when large, else soon."""
        if not text:
            return
        with self._lock:
            if self._batch and self._batch[-1][0] == name:
                self._batch[-1][1].append(text)  # joined when sent: adding strings would copy the batch each time
            else:
                self._batch.append((name, [text]))
            self._batch_bytes += len(text)
            now = self._batch_bytes >= OUTPUT_BATCH_BYTES
            if not now and self._flush_at is None:
                self._flush_at = self.deadlines.call_later(OUTPUT_BATCH_SECONDS, self.flush)
            if now:
                self._send_batch()

    def flush(self):
        """Send what the batch holds and the progress waiting for its slot."""
        with self._lock:
            self._send_batch()
            if self._pending_progress is not None:
                self._send_progress(self._pending_progress)

    def _send_batch(self):
        """With the lock held: queue the batch for the client, as messages of at most ``OUTPUT_BATCH_BYTES``."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        for name, texts in batch:
            for piece in _pieces("".join(texts)):
                self.session.emit(protocol.push({"tag": "stream", "id": self.id, "name": name, "text": piece}))

    # Progress.

    def report_progress(self, done, total, message):
        """Send a progress message now, or as the latest one waiting for the next slot."""
        update = {"tag": "progress", "id": self.id, "done": done, "total": total, "message": message}
        with self._lock:
            wait = self._last_progress + PROGRESS_SECONDS - time.monotonic()
            if wait <= 0:
                self._send_progress(update)  # after the output before it
                return
            self._pending_progress = update
            if self._progress_at is None:
                self._progress_at = self.deadlines.call_later(wait, self.flush)

    def _send_progress(self, update):
        """With the lock held: queue *update* for the client after the output before it."""
        self._send_batch()
        if self._progress_at is not None:
            self._progress_at.cancel()
            self._progress_at = None
        self._pending_progress = None
        self._last_progress = time.monotonic()
        self.session.emit(protocol.push(update))


def _pieces(text):
    """*text* in pieces of at most ``OUTPUT_BATCH_BYTES`` bytes of UTF-8, cut between characters."""
    start = 0
    while start < len(text):
        end = start + OUTPUT_BATCH_BYTES
        while len(text[start:end].encode("utf-8", "surrogatepass")) > OUTPUT_BATCH_BYTES:
            end = start + (end - start) // 2
        yield text[start:end]
        start = end


def progress(done, total=None, message=None):
    """Tell the client running this command how far it has come: ``done`` of ``total`` (None: unknown),
    with an optional *message*.

    Sent as ``{"tag": "progress", "id", "done", "total", "message"}`` to the
    caller only, at most every ``PROGRESS_SECONDS`` (the latest waiting one
    goes then, and before the reply). A no-op outside a command, or when the
    client did not ask for progress.
    """
    with shielded():
        report = _reports.get(threading.get_ident())
        if report is None or not report.progress:
            return
        if not _is_number(done) or not (total is None or _is_number(total)):
            raise TypeError("progress(done, total=None, message=None): done and total must be numbers")
        report.report_progress(done, total, None if message is None else str(message))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Routing the process-wide streams by thread.

class _ThreadStream:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: writes from a capturing command's thread go to its
    report, all others to the stream that was there."""

    def __init__(self, name, original):
        self._name = name
        self._original = original

    def write(self, text):
        report = _reports.get(threading.get_ident())
        if report is None or report.capture is None:
            return self._original.write(text)
        with shielded():
            if not isinstance(text, str):
                raise TypeError("write() argument must be str, not {}".format(type(text).__name__))
            report.write(self._name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if _reports.get(threading.get_ident()) is None:
            self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


def _log_capture(logging):
    """The handler on the root logger, once anything has been captured, that gives each record emitted on a
    capturing command's thread at or above its level to its report (made once logging is imported)."""

    class LogCapture(logging.Handler):
        """Its presence keeps ``logging.lastResort`` from being used, so a record that no other handler
        takes is handed to it here, as logging would."""

        def handle(self, record):
            report = _reports.get(record.thread)
            if report is not None and report.capture is not None and record.levelno >= report.capture:
                with shielded():
                    report.write("log", self.format(record) + "\n")
                return True
            last_resort = logging.lastResort
            if last_resort is not None and record.levelno >= last_resort.level and \
                    not _handled_elsewhere(logging, record):
                last_resort.handle(record)
            return True

        def emit(self, record):
            """Not used: :meth:`handle` routes each record itself."""

    handler = LogCapture()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    return handler


def _handled_elsewhere(logging, record):
    """Whether a handler other than the capture's takes *record* on its way up the logger tree."""
    log = logging.Logger.manager.loggerDict.get(record.name, logging.root)
    while isinstance(log, logging.Logger):
        if any(handler is not _installed.get("log") for handler in log.handlers):
            return True
        if not log.propagate:
            return False
        log = log.parent
    return False


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` while anything captures: a capturing command's warnings go to its report."""
    report = _reports.get(threading.get_ident())
    if report is None or report.capture is None or file is not None:
        return _originals["showwarning"](message, category, filename, lineno, file, line)
    with shielded():
        report.write("warning", warnings.formatwarning(message, category, filename, lineno, line))


def _install():
    """Route the process-wide streams by thread while at least one report captures."""
    global _capturing
    with _install_lock:
        _capturing += 1
        if _capturing > 1:
            return
        for name in ("stdout", "stderr"):
            _originals[name] = getattr(sys, name)
            if _originals[name] is not None:  # None under pythonw: nothing to route
                setattr(sys, name, _ThreadStream(name, _originals[name]))
        _originals["showwarning"] = warnings.showwarning
        warnings.showwarning = _show_warning
        if "log" not in _installed:
            # It stays on the root logger from then on, passing on what it does not capture as logging
            # would: taking it off and on around every command would take the logging module's lock each
            # time, which cancelled served code may hold (and why it is appended, not addHandler'd).
            import logging
            _installed["log"] = _log_capture(logging)
            logging.getLogger().handlers.append(_installed["log"])


def _uninstall():
    """Put the process-wide streams back once no report captures (unless served code replaced them)."""
    global _capturing
    with _install_lock:
        _capturing -= 1
        if _capturing:
            return
        for name in ("stdout", "stderr"):
            if isinstance(getattr(sys, name), _ThreadStream):
                setattr(sys, name, _originals[name])
        if warnings.showwarning is _show_warning:
            warnings.showwarning = _originals["showwarning"]
