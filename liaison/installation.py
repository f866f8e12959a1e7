"""Stopping in one line when liaison-py 1.0.1 shares the ``liaison/`` folder with this package.

Both distributions install the package ``liaison``; pip and uv let the one installed last overwrite
the other's files there, and uninstalling one removes the files it shares with the other. Two checks
lead here. ``liaison/__init__.py`` looks for liaison-py's ``companion/`` and ``constants/`` packages
beside it, which shadow our modules of those names. ``liaison-backend.pth``, which the wheel puts at
the top of site-packages (from ``compat/site-packages/``), runs at every start-up: when liaison-py's
``companion/`` is there or ``liaison/__init__.py`` is not, it imports ``_liaison_backend_guard``,
which loads this file by its path and calls :func:`guard`.
"""
import importlib.machinery
import os
import sys

REPAIR = ('`pip uninstall -y liaison-py liaison-backend` then `pip install "liaison-backend[websocket]"` (with uv: '
          '`uv pip uninstall liaison-py liaison-backend` then `uv pip install "liaison-backend[websocket]"`)')


def message(folder):
    """The one line: what is wrong with *folder*, and the commands that repair it."""
    return ("{} holds files of both liaison-backend and liaison-py 1.0.1, or what one left of the other, since both "
            "install the package liaison; to repair, run {}; for PsychoPy Studio, also install liaison-backend's "
            "stand-in liaison-py (its README: \"Using it with PsychoPy Studio\")").format(folder, REPAIR)


def refuse(folder):
    """Stop importing liaison from *folder*: under ``python -m`` the line on stderr and exit 1, else ImportError.

    While ``python -m liaison...`` imports its packages, ``sys.argv[0]`` is still ``"-m"``; runpy would
    wrap an ImportError in a longer line of its own, so the line is written here instead.
    """
    if getattr(sys, "argv", [])[:1] == ["-m"]:
        sys.stderr.write("liaison: {}\n".format(message(folder)))
        raise SystemExit(1)
    raise ImportError(message(folder), name="liaison")


class Refusal:
    """A ``sys.meta_path`` finder that refuses ``import liaison`` when it would come from *folder*.

    A ``liaison`` found first elsewhere on ``sys.path`` (a checkout, say) is left to import.
    """

    def __init__(self, folder):
        self.folder = folder
        self.real_folder = os.path.realpath(folder)

    def find_spec(self, name, path=None, target=None):
        """Refuse ``liaison`` from the broken folder; leave every other import to the next finders."""
        if name == "liaison":
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            locations = (spec.submodule_search_locations or []) if spec is not None else []
            if any(os.path.realpath(location) == self.real_folder for location in locations):
                refuse(self.folder)
        return None


def guard(folder):
    """Make every later ``import liaison`` from *folder* stop with the one line (``liaison-backend.pth`` calls this)."""
    sys.meta_path.insert(0, Refusal(folder))
