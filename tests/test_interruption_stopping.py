"""Issue 20, cases 7 and 9: a served process stops on a signal within 5 s, whatever its parent reads
and whatever served code did with the signals."""
import json
import select
import signal
import time

import pytest

from interruption import line, run_code
from stdioserver import STOP_LINE

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals and pipes")


def test_7_over_stdio_sigterm_while_a_reply_is_half_written_to_a_busy_parent_exits_within_5_s(stdio):
    server = stdio()
    server.write(line("run", "operator:mul", "x", 8000000, ident="large"))
    assert select.select([server.process.stdout], [], [], 10)[0]  # the reply has begun; the parent reads none
    server.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert server.process.wait(10) == 0
    assert time.monotonic() - started < 5
    output = server.process.stdout.read()
    assert output.startswith(b'{"response": "xxx')
    assert STOP_LINE not in output or output.endswith(b"\n" + STOP_LINE)


#: Sets signal handlers with asyncio, as served code may; then closes the loop (which resets them to the
#: defaults and drops the interpreter's wakeup descriptor) or keeps it open.
ASYNCIO = "\n".join([
    "import asyncio, signal",
    "loop = asyncio.new_event_loop()",
    "loop.add_signal_handler(signal.SIGTERM, loop.stop)",
    "loop.add_signal_handler(signal.SIGINT, loop.stop)",
    "loop.run_until_complete(asyncio.sleep(0))",
])


def test_9_a_signal_right_after_a_command_that_set_handlers_with_asyncio_stops_the_server(stdio):
    for attempt in range(6):
        for ending in ["loop.close()", "liaison.kept = loop"]:
            for signum in [signal.SIGTERM, signal.SIGINT]:
                server = stdio()
                server.write(json.dumps(run_code(ASYNCIO + "\n" + ending, "asyncio")).encode() + b"\n")
                assert server.message()["tag"] == "response"
                server.process.send_signal(signum)
                started = time.monotonic()
                assert server.wait_stopped(timeout=5) == 0, (attempt, ending, signum)
                assert time.monotonic() - started < 5
                server.kill()
