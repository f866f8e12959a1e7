"""Mistakes on the command lines: one line on stderr naming the command, exit code 2, and nothing on stdout."""
import signal
import subprocess
import sys

import pytest


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m"] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60, env=env)


@pytest.mark.parametrize("args, says", [
    (["liaison.websocket", "nonsense"], "argument address: 'nonsense' is not an address"),
    (["liaison.websocket", "127.0.0.1:0", "--bogus"], "unrecognized arguments: --bogus"),
    (["liaison.websocket", "--max-size", "0"], "argument --max-size: '0' is not a positive whole number"),
    (["liaison.websocket", "--send-timeout"], "argument --send-timeout: expected one argument"),
    (["liaison.websocket", "--token", ""], "an empty token would let anyone connect"),
    (["liaison.stdio", "127.0.0.1:0"], "unrecognized arguments: 127.0.0.1:0"),
    (["liaison.stdio", "--log-level", "loud"], "argument --log-level: invalid choice: 'LOUD'"),
    (["liaison.stdio", "--allow-import", "a..b"], "argument --allow-import:"),
    (["liaison", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_a_mistake_is_one_line_on_stderr_and_exit_code_2(args, says):
    done = run(*args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("python -m {}: error: ".format(args[0])) and says in done.stderr, done.stderr
    assert done.stderr.endswith("; see --help\n") and done.stderr.count("\n") == 1, done.stderr


def test_log_level_takes_any_case(cli):
    server = cli("127.0.0.1:0", "--log-level", "info")
    server.wait_started()
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_stopped() == 0
    assert "liaison INFO: stopping on signal" in server.process.stderr.read().decode()

