"""Build script: the metadata is in setup.cfg; this puts the JavaScript client into the package.

The npm package in clients/js stays the one source of the client: building copies
the files it publishes (``package.json`` and its ``"files"``) into ``liaison/js/``
of the wheel, so ``pip install liaison-backend`` users have it too. Kept as a
setup.py because setuptools 40 on CPython 3.6 needs one for ``pip install -e``.
"""
import glob
import json
import os

from setuptools import setup
from setuptools.command.build_py import build_py

JS_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "js")


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


class BuildWithJavaScriptClient(build_py):
    """``build_py``, then the JavaScript client copied into ``liaison/js/``."""

    def run(self):
        super().run()
        for name in javascript_client_files():
            target = os.path.join(self.build_lib, "liaison", "js", name)
            self.mkpath(os.path.dirname(target))
            self.copy_file(os.path.join(JS_CLIENT, name), target)


setup(cmdclass={"build_py": BuildWithJavaScriptClient})
