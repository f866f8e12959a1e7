"""Build script of the stand-in liaison-py: no code, only liaison-backend[websocket] of the same version.

The version is liaison-backend's ``__version__``, read from ../../liaison/__init__.py in a checkout,
or from PKG-INFO when this is built from its own sdist, which has no liaison/ beside it. The
``websocket`` extra exists because PsychoPy Studio installs ``liaison-py[websocket]``.
"""
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT_INIT = os.path.normpath(os.path.join(HERE, "..", "..", "liaison", "__init__.py"))


def version():
    """liaison-backend's version, from this sdist's PKG-INFO or else from the checkout's liaison/__init__.py."""
    sdist_metadata = os.path.join(HERE, "PKG-INFO")
    if os.path.isfile(sdist_metadata):
        path, pattern = sdist_metadata, r"^Version: (\S+)$"
    else:
        path, pattern = CHECKOUT_INIT, r"^__version__ = \"([^\"]+)\"$"
    if not os.path.isfile(path):
        raise SystemExit("{} is missing: build the stand-in in liaison-backend's checkout or unpacked sdist "
                         "(pip 21.3 and newer build it in place)".format(path))
    with open(path, encoding="utf-8") as file:
        found = re.search(pattern, file.read(), re.M)
    if found is None:
        raise SystemExit("no version in {}".format(path))
    return found.group(1)


VERSION = version()
REQUIREMENT = "liaison-backend[websocket]=={}".format(VERSION)

setup(version=VERSION, install_requires=[REQUIREMENT], extras_require={"websocket": [REQUIREMENT]})
