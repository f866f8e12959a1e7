"""Build script: the metadata is in setup.cfg; this puts the JavaScript client into the package.

The npm package in clients/js stays the one source of the client: building copies
the files it publishes (``package.json`` and its ``"files"``) into ``liaison/js/``
of the wheel, so ``pip install liaison-backend`` users have it too. It also puts
the files of compat/site-packages/ at the top of the wheel, beside ``liaison/``:
the start-up check that catches liaison-py 1.0.1 installed over this package
(see liaison/installation.py). Kept as a setup.py because setuptools 40 on
CPython 3.6 needs one for ``pip install -e``.
"""
import glob
import json
import os

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
JS_CLIENT = os.path.join(ROOT, "clients", "js")
SITE_PACKAGES = os.path.join(ROOT, "compat", "site-packages")
SITE_PACKAGES_FILES = ("liaison-backend.pth", "_liaison_backend_guard.py")


def javascript_client_files():
    """The paths, relative to clients/js, that its npm package publishes."""
    with open(os.path.join(JS_CLIENT, "package.json"), encoding="utf-8") as package:
        published = json.load(package)["files"]
    names = ["package.json"]
    for pattern in published:
        matches = glob.glob(os.path.join(JS_CLIENT, pattern))
        if not matches:
            raise SystemExit("clients/js/package.json publishes {!r}, which is missing".format(pattern))
        for match in matches:
            if os.path.isdir(match):
                raise SystemExit("clients/js/package.json publishes the folder {!r}; list its files".format(pattern))
            names.append(os.path.relpath(match, JS_CLIENT))
    return sorted(set(names))


class BuildWithExtraFiles(build_py):
    """``build_py``, then the JavaScript client copied into ``liaison/js/`` and compat/site-packages/ to the top."""

    def run(self):
        super().run()
        for name in javascript_client_files():
            target = os.path.join(self.build_lib, "liaison", "js", name)
            self.mkpath(os.path.dirname(target))
            self.copy_file(os.path.join(JS_CLIENT, name), target)
        for name in SITE_PACKAGES_FILES:
            self.copy_file(os.path.join(SITE_PACKAGES, name), os.path.join(self.build_lib, name))


setup(cmdclass={"build_py": BuildWithExtraFiles})
