"""Commands that print, log, warn, report progress and return generators, for the client tests of output,
progress and streamed results (tests/test_client_output.py, clients/js/test/output.test.js), which spawn
servers with this folder on their PYTHONPATH."""
import logging
import sys
import time
import warnings

import liaison

#: How far the generators got: items made, and generators closed (their ``finally`` ran).
state = {"made": 0, "closed": 0}

logger = logging.getLogger("streamed")


def chatter():
    """Write to stdout and stderr, log a warning and an info record, and warn; return ``"done"``."""
    print("to stdout")
    print("to stderr", file=sys.stderr)
    logger.warning("a warning record")
    logger.info("an info record")
    warnings.warn("careful", UserWarning)
    return "done"


def verbose():
    """Log at INFO with the logger at INFO: a record a client asking from INFO gets."""
    logger.setLevel(logging.INFO)
    logger.info("an info record")
    logger.debug("a debug record")
    return "done"


def steps(count):
    """Report progress *count* times as fast as it can; return *count*."""
    for step in range(1, count + 1):
        liaison.progress(step, count, "step {}".format(step))
    return count


def counted(count, pause=0.0):
    """Yield 0 to *count* - 1, printing each first and *pause* seconds apart; count them in ``state``."""
    try:
        for number in range(count):
            state["made"] += 1
            print("making", number)
            yield number
            time.sleep(pause)
    finally:
        state["closed"] += 1


def progressing(count):
    """Yield 0 to *count* - 1, reporting progress before each."""
    for number in range(count):
        liaison.progress(number + 1, count)
        yield number


def failing(count):
    """Yield *count* items, then raise ValueError."""
    yield from range(count)
    raise ValueError("broke after {} items".format(count))


def stalling(count):
    """Yield *count* items, then loop in Python for 60 s (a cancel ends it at once, and ``finally`` runs).

    Not ``while time.monotonic() < deadline: pass``: CPython 3.13 raises an interruption that lands on
    the jump back of a ``while <condition>:`` loop outside the ``try``, skipping ``finally``
    (python/cpython#130279; README.rst says so).
    """
    try:
        yield from range(count)
        deadline = time.monotonic() + 60
        while True:
            if time.monotonic() > deadline:
                break
    finally:
        state["closed"] += 1
