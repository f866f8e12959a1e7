"""liaison-backend installed over, under and beside liaison-py 1.0.1, in real venvs, with pip and no network.

Both distributions install the package ``liaison``. Whatever the order, ``import liaison`` and
``python -m liaison...`` must run liaison-backend or stop with the one line of liaison/installation.py,
never run liaison-py's code. liaison-py 1.0.1 is a wheel made here from tests/fixtures/liaison-py-1.0.1,
its file layout (some files copied verbatim from it, MIT-licensed, as a test fixture: see the README.txt
there); liaison-backend and the stand-in liaison-py of compat/liaison-py are built from this checkout with
the test environment's setuptools, and websocket-server's wheel is made from its installed files. Two
folders of wheels play the package indexes: ``ours`` (liaison-backend, the stand-in, websocket-server) and
``pypi`` (liaison-py 1.0.1). Each venv is made without pip and runs the test environment's pip, with no
index and no configuration: making it takes 0.1 s instead of several seconds.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pip
import pytest
import websocket_server

from liaison import __version__
from liaison.constants import START_MARKER, STOP_MARKER
from liaison.installation import message

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM = os.path.join(ROOT, "tests", "fixtures", "liaison-py-1.0.1")
#: What building liaison-backend and the stand-in reads from the checkout.
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.rst", "LICENSE", "liaison", os.path.join("clients", "js"),
           "compat")
BUILD_LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.py[cod]", "node_modules", "build", "*.egg-info")
OURS = {"version": __version__ + "\n",
        "constants": json.dumps({"START_MARKER": START_MARKER, "STOP_MARKER": STOP_MARKER}) + "\n",
        "websocket": "python -m liaison.websocket {}\n".format(__version__)}


def pip_environment():
    """os.environ without pip's settings or PYTHONPATH, and pip told to use no index and no configuration file."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("PIP_") and name != "PYTHONPATH"}
    environment.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PIP_NO_INPUT="1")
    return environment


def run_pip(python, *args, **environment):
    """Run ``python -m pip ARGS`` quietly; fail the test with pip's output if it fails."""
    done = subprocess.run([python, "-m", "pip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=dict(pip_environment(), **environment), timeout=300)
    assert done.returncode == 0, "pip {} failed:\n{}".format(" ".join(args), done.stdout)
    return done.stdout


def write_wheel(folder, metadata, files):
    """Write a py3-none-any wheel of *files* ({path in the wheel: bytes}) with METADATA *metadata*; return its path."""
    fields = dict(line.split(": ", 1) for line in metadata.splitlines() if ": " in line)
    stem = "{}-{}".format(fields["Name"].replace("-", "_"), fields["Version"])
    info = stem + ".dist-info/"
    files = dict(files)
    files[info + "METADATA"] = metadata.encode("utf-8")
    files[info + "WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests/test_installation.py\nRoot-Is-Purelib: true\n" \
                            b"Tag: py3-none-any\n"
    record = ["{},sha256={},{}".format(path, base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                                       .decode(), len(data)) for path, data in sorted(files.items())]
    files[info + "RECORD"] = "".join(line + "\n" for line in record + [info + "RECORD,,"]).encode("utf-8")
    path = os.path.join(folder, stem + "-py3-none-any.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in sorted(files.items()):
            wheel.writestr(name, data)
    return path


def read(path):
    """The bytes of the file at *path*."""
    with open(path, "rb") as file:
        return file.read()


def liaison_py_wheel(folder):
    """liaison-py 1.0.1's wheel from the fixture, without its requirements (jsonschema, websockets)."""
    files = {}
    for directory, subdirectories, names in os.walk(os.path.join(UPSTREAM, "liaison")):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        for name in names:
            path = os.path.join(directory, name)
            files[os.path.relpath(path, UPSTREAM).replace(os.sep, "/")] = read(path)
    metadata = ("Metadata-Version: 2.1\nName: liaison-py\nVersion: 1.0.1\nSummary: Provides a way of interfacing "
                "with a Python backend by sending commands as JSON.\nLicense: MIT\nProvides-Extra: tests\n"
                "Provides-Extra: websocket\n")
    return write_wheel(folder, metadata, files)


def installed_wheel(folder, module):
    """A wheel of the installed distribution that holds the package *module*, made from the files its RECORD lists."""
    site = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
    prefix = module.__name__ + "-"
    infos = [name for name in os.listdir(site) if name.startswith(prefix) and name.endswith(".dist-info")]
    assert len(infos) == 1, "{} is not installed from a wheel in {}: {}".format(module.__name__, site, infos)
    with open(os.path.join(site, infos[0], "RECORD"), encoding="utf-8") as record:
        paths = [line.split(",")[0] for line in record if line.strip()]
    files = {path: read(os.path.join(site, path)) for path in paths
             if not path.startswith((infos[0] + "/", "../")) and not path.endswith(".pyc")}
    return write_wheel(folder, read(os.path.join(site, infos[0], "METADATA")).decode("utf-8"), files)


@pytest.fixture(scope="session")
def indexes(tmp_path_factory):
    """The two folders of wheels, made once per session: {"ours": folder, "pypi": folder}."""
    base = tmp_path_factory.mktemp("indexes")
    source, ours, pypi = (os.path.join(str(base), name) for name in ("source", "ours", "pypi"))
    os.mkdir(source)
    for name in SOURCES:  # a copy, since pip builds in place and would leave build/ and *.egg-info behind
        if os.path.isdir(os.path.join(ROOT, name)):
            shutil.copytree(os.path.join(ROOT, name), os.path.join(source, name), ignore=BUILD_LEFTOVERS)
        else:
            shutil.copy(os.path.join(ROOT, name), source)
    run_pip(sys.executable, "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", ours, source,
            os.path.join(source, "compat", "liaison-py"))
    installed_wheel(ours, websocket_server)
    os.mkdir(pypi)
    liaison_py_wheel(pypi)
    return {"ours": ours, "pypi": pypi}


@pytest.fixture(scope="session")
def pip_home(tmp_path_factory):
    """A folder that holds only this environment's pip (a link to it): on PYTHONPATH, a venv runs it."""
    home = str(tmp_path_factory.mktemp("pip"))
    os.symlink(os.path.dirname(os.path.abspath(pip.__file__)), os.path.join(home, "pip"))
    return home


class Venv:
    """A fresh venv; pip run in it against the folders of wheels; what its ``liaison`` does."""

    def __init__(self, folder, indexes, pip_home):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True, timeout=120)
        self.folder = folder
        self.python = os.path.join(folder, "bin", "python")
        self.indexes = indexes
        self.pip_home = pip_home
        self.site_packages = self.run("-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()

    def pip(self, *args):
        return run_pip(self.python, *args, PYTHONPATH=self.pip_home)

    def install(self, *requirements, index):
        """``pip install REQUIREMENTS`` with the one folder of wheels named *index*."""
        return self.pip("install", "--find-links", self.indexes[index], *requirements)

    def installed(self):
        """{distribution name: version} of what pip lists."""
        return {row["name"].lower(): row["version"] for row in json.loads(self.pip("list", "--format=json"))}

    def leftovers(self):
        """What is left in site-packages of either distribution."""
        cache = os.path.join(self.site_packages, "__pycache__")
        names = os.listdir(self.site_packages) + (os.listdir(cache) if os.path.isdir(cache) else [])
        return sorted(name for name in names if name.lower().startswith(("liaison", "_liaison")))

    def run(self, *args, site=True):
        """Run the venv's Python in its folder; without *site*, as ``python -S`` with site-packages on PYTHONPATH,
        so that no .pth file runs."""
        environment = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
        command = [self.python] + list(args)
        if not site:
            command.insert(1, "-S")
            environment["PYTHONPATH"] = self.site_packages
        return subprocess.run(command, cwd=self.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=environment, timeout=60)

    def outcome(self, site=True):
        """"liaison-backend" when ``import liaison`` and both entries run ours, "refused" when each stops with the
        one line; anything else (liaison-py running, a traceback, a mix) fails the test. A Python that does
        not import liaison starts as usual either way."""
        plain = self.run("-c", "print('plain')", site=site)
        assert (plain.returncode, plain.stdout, plain.stderr) == (0, "plain\n", ""), plain
        probes = {"version": self.run("-c", "import liaison, sys; print(liaison.__version__); assert not "
                                            "{'liaison.installation', '_liaison_backend_guard'} & set(sys.modules)",
                                      site=site),
                  "constants": self.run("-m", "liaison.constants", site=site),
                  "websocket": self.run("-m", "liaison.websocket", "--version", site=site)}
        results = {name: (done.returncode, done.stdout, done.stderr) for name, done in probes.items()}
        if results == {name: (0, stdout, "") for name, stdout in OURS.items()}:
            return "liaison-backend"
        line = message(os.path.join(self.site_packages, "liaison"))
        version = results.pop("version")
        if (version[:2] == (1, "") and version[2].splitlines()[-1:] == ["ImportError: " + line]
                and all(result == (1, "", "liaison: " + line + "\n") for result in results.values())):
            return "refused"
        results["version"] = version
        pytest.fail("neither liaison-backend nor the one line:\n" + "\n".join(
            "{}: exit {}, stdout {!r}, stderr {!r}".format(name, *result) for name, result in sorted(results.items())))

    def repair(self, *extra_requirements):
        """The commands of the one line; after the uninstall, nothing of either distribution is left."""
        self.pip("uninstall", "-y", "liaison-py", "liaison-backend")
        assert self.leftovers() == []
        self.install("liaison-backend[websocket]", *extra_requirements, index="ours")
        assert self.outcome() == "liaison-backend"


@pytest.fixture
def venv(tmp_path, indexes, pip_home):
    return Venv(str(tmp_path / "venv"), indexes, pip_home)


def test_liaison_py_over_ours_stops_liaison_in_one_line_and_so_does_uninstalling_it(venv):
    venv.install("liaison-backend[websocket]", index="ours")
    assert venv.outcome() == "liaison-backend"
    venv.install("liaison-py[websocket]", index="pypi")  # what PsychoPy Studio runs when pip lists no liaison-py
    assert venv.installed()["liaison-py"] == "1.0.1"
    assert venv.outcome() == "refused"
    venv.pip("uninstall", "-y", "liaison-py")  # takes the files the two share, our __init__.py among them
    assert not os.path.exists(os.path.join(venv.site_packages, "liaison", "__init__.py"))
    assert venv.outcome() == "refused"
    venv.repair()


def test_ours_installed_over_liaison_py_stops_liaison_in_one_line(venv):
    venv.install("liaison-py[websocket]", index="pypi")
    liaison_py = venv.run("-m", "liaison.websocket", "127.0.0.1:0")
    assert (liaison_py.returncode, liaison_py.stdout) == (0, START_MARKER + "@127.0.0.1:0" + STOP_MARKER
                                                          + "@127.0.0.1:0"), liaison_py.stderr
    venv.install("liaison-backend[websocket]", index="ours")
    assert venv.outcome() == "refused"
    assert venv.outcome(site=False) == "refused"  # liaison/__init__.py's own check, with no .pth file run
    venv.repair()


def test_the_stand_in_liaison_py_keeps_liaison_py_out_until_its_version_is_asked_for(venv):
    venv.install("liaison-backend[websocket]", "liaison-py==" + __version__, index="ours")
    installed = venv.installed()
    assert (installed["liaison-backend"], installed["liaison-py"]) == (__version__, __version__)
    assert "websocket-server" in installed
    venv.install("liaison-py[websocket]", index="pypi")
    venv.install("--upgrade", "liaison-py[websocket]", index="pypi")
    assert venv.outcome() == "liaison-backend"
    venv.install("liaison-py==1.0.1", index="pypi")  # replaces the stand-in, and writes over our files
    assert venv.outcome() == "refused"
    venv.repair("liaison-py==" + __version__)
    assert venv.installed()["liaison-py"] == __version__
