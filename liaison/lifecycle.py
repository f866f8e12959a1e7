"""Keeping a served process a good citizen: stop on signals, and when the parent process dies.

A frontend that starts ``python -m liaison.<transport>`` may crash; the server
must not outlive it holding the port.
"""
import os
import signal
import threading
import time

from . import logs
from .logs import logger

__all__ = ["watch_parent", "handle_signals", "Signals", "PARENT_POLL"]

#: Seconds between checks that the parent process is alive (POSIX).
PARENT_POLL = 0.5

_SYNCHRONIZE = 0x00100000
_INFINITE = 0xFFFFFFFF


def watch_parent(on_exit):
    """Call ``on_exit()`` once the parent of this process has died: from a daemon thread, or at
    once if the parent is already gone.

    POSIX: the parent id changes when the parent dies (the orphan is adopted by
    PID 1 or by a subreaper), checked every ``PARENT_POLL`` seconds. A parent that
    died before this call is caught only when PID 1 adopted the orphan: see
    :func:`orphaned_before_watch`.
    Windows: wait on a handle to the parent, opened now so a reused id cannot fool it.
    The watch sees the direct parent only: a shell between the frontend and this
    process (``spawn(cmd, {shell: true})`` in Node) is the parent it watches.
    """
    parent = os.getppid()
    if os.name == "nt":
        handle = _open_process(parent)
        if handle is None:
            logger.warning("cannot watch parent process %s; run with --no-parent-watch to silence this", parent)
            return None
        target, args = _wait_for_handle, (handle, parent, on_exit)
    elif orphaned_before_watch(parent):
        logger.warning("the process that started this one died before it could be watched; stopping "
                       "(--no-parent-watch keeps serving)")
        on_exit()
        return None
    else:
        target, args = _poll_parent, (parent, on_exit)
    thread = threading.Thread(target=target, args=args, name="liaison-parent-watch", daemon=True)
    thread.start()
    return thread


def orphaned_before_watch(parent):
    """Whether *parent*, the parent process id now, says the real parent has already died (POSIX).

    Then PID 1 adopted this process, which kept the process group it was started
    in. A process that PID 1 really started is told apart by its group: service
    managers (systemd) and container inits (tini, dumb-init) start it as the leader
    of a group of its own, and a frontend that runs as a container's PID 1 starts it
    in PID 1's group. An orphan adopted by a subreaper other than PID 1 is not caught.
    """
    return parent == 1 and os.getpgrp() not in (os.getpid(), 1)


def _poll_parent(parent, on_exit):
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    logger.warning("parent process %s died; stopping (--no-parent-watch keeps serving)", parent)
    on_exit()


def _kernel32():
    import ctypes
    from ctypes import wintypes
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    return kernel32


def _open_process(pid):
    """A Windows handle to process *pid* that can be waited on, or None."""
    return _kernel32().OpenProcess(_SYNCHRONIZE, False, pid) or None


def _wait_for_handle(handle, parent, on_exit):
    kernel32 = _kernel32()
    kernel32.WaitForSingleObject(handle, _INFINITE)
    kernel32.CloseHandle(handle)
    logger.warning("parent process %s died; stopping (--no-parent-watch keeps serving)", parent)
    on_exit()


def handle_signals(on_stop):
    """Call ``on_stop()`` on SIGINT, SIGTERM or (Windows) CTRL_BREAK; exit at once on a second one.

    Returns a :class:`Signals` whose ``stopping()`` says that stopping has
    begun for another reason, so that from then on a signal exits at once
    (shutdown is stuck), and whose ``reclaim()`` takes the signals back if
    served code took them.

    The signals are acted on by a thread that reads them from the interpreter's
    wakeup file descriptor, not by Python-level handlers on the main thread: a
    handler waits for the main thread to run Python code (a command in a long C
    call delays it), and CPython may hold back a signal that arrives while a
    handler runs until the next one comes.
    """
    stopping = threading.Event()
    handled = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)}
    receive, wakeup_fd = _wakeup_channel()
    signals = Signals(wakeup_fd, handled, stopping)
    signals.reclaim()

    def watch():
        while True:
            for signum in receive():
                if signum not in handled:
                    continue  # a signal the host handles itself also comes through the wakeup descriptor
                if stopping.is_set():
                    logs.write_stderr("liaison: signal {} while stopping; exiting at once\n".format(signum).encode(),
                                      logs.WRITE_TIMEOUT)
                    os._exit(128 + signum)
                stopping.set()
                on_stop()
                logger.info("stopping on signal %s", signum)

    threading.Thread(target=watch, name="liaison-signals", daemon=True).start()
    return signals


def _wakeup_channel():
    """``(receive, fd)``: the non-blocking descriptor the interpreter writes signal numbers to, and a function
    that waits for the next ones. A pipe on POSIX; Windows takes only a socket. Both ends stay open for as
    long as the process runs."""
    if os.name != "nt":
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        return lambda: os.read(read_end, 64), write_end
    import socket
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    return lambda keep_open=writer: reader.recv(64), writer.fileno()


class Signals:
    """The signals liaison handles, and the wakeup file descriptor that carries them to its thread."""

    def __init__(self, wakeup_fd, handled, stopping):
        self.wakeup_fd = wakeup_fd
        self.handled = handled
        self.stopping = stopping.set

    def reclaim(self):
        """On the main thread: take back the wakeup descriptor and the handlers, had served code taken them
        (``loop.add_signal_handler`` of asyncio does, and resets them to the defaults when its loop closes)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals are the main thread's to set
        taken = signal.set_wakeup_fd(self.wakeup_fd) != self.wakeup_fd
        for signum in self.handled:
            if signal.getsignal(signum) is not _noted:
                signal.signal(signum, _noted)
                taken = True
        if taken:
            logger.info("took back the signals that served code had taken")


def _noted(signum, frame):
    """The Python-level handler: nothing to do here, the wakeup file descriptor carries the signal."""
