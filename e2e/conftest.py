"""Fixtures for the end-to-end tests: Node, a spawned ``python -m liaison.websocket``, scipy's own t-test.

Only the default-Python step of .ci/run runs these; it installs node, chromium and the e2e extra first.
"""
import os
import shutil
import subprocess
import sys

import pytest
import scipy.stats

from liaison.client import spawn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_JS = os.path.join(ROOT, "clients", "js")
GLOBAL_WEBSOCKET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "global_websocket.mjs")


@pytest.fixture
def run_node():
    """Run an ES module's source with node inside clients/js (so it can import liaison-client); return stdout.

    ``python3`` on the PATH is this test's Python, so ``spawn()`` finds liaison and scipy.
    """
    node = shutil.which("node")
    assert node, "node is not installed; .ci/run installs it (apt-get install nodejs npm)"
    assert os.path.isdir(os.path.join(CLIENT_JS, "node_modules", "ws")), "run npm ci in clients/js first"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])

    def run(source, **extra_env):
        env.update(extra_env)
        done = subprocess.run(
            [node, "--import", "file://" + GLOBAL_WEBSOCKET, "--input-type=module", "-e", source],
            cwd=CLIENT_JS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    return run


@pytest.fixture
def server():
    """A real ``python -m liaison.websocket`` on a free loopback port, with a Python client to it."""
    client = spawn()
    yield client
    client.close()


@pytest.fixture
def check_ttest():
    """Check that a t-test an example showed equals scipy's own result on the samples it sent."""
    return _check_ttest


def _check_ttest(shown):
    """*shown* holds the samples the example sent and the t-test it got."""
    expected = scipy.stats.ttest_ind(shown["control"], shown["treated"], equal_var=False)
    assert len(shown["control"]) == len(shown["treated"]) == 8
    assert (shown["statistic"], shown["pvalue"]) == (float(expected.statistic), float(expected.pvalue))
