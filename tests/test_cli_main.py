"""``python -m liaison``: the short help a newcomer types first, and the JavaScript client's folder."""
import json
import os
import subprocess
import sys

from liaison import __version__


def run(*args):
    return subprocess.run([sys.executable] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)


def test_help_names_the_servers_and_the_clients():
    done = run("-m", "liaison")
    assert done.returncode == 0 and done.stderr == ""
    for text in ("liaison-backend " + __version__, "python -m liaison.websocket", "python -m liaison.stdio",
                 "liaison.client", "pip install 'liaison-backend[websocket,client]'", "liaison.js"):
        assert text in done.stdout
    assert len(done.stdout.splitlines()) <= 20


def test_js_dir_is_the_npm_package_with_the_client():
    done = run("-m", "liaison", "--js-dir")
    assert done.returncode == 0
    folder = done.stdout.strip()
    assert done.stdout == folder + "\n" and os.path.isabs(folder)
    assert folder in run("-m", "liaison").stdout
    with open(os.path.join(folder, "package.json"), encoding="utf-8") as package:
        manifest = json.load(package)
    assert os.path.isfile(os.path.join(folder, "liaison.js")) and "liaison.js" in manifest["files"]


def test_works_without_docstrings():
    done = run("-OO", "-m", "liaison")
    assert done.returncode == 0 and "python -m liaison.websocket" in done.stdout, done.stderr
