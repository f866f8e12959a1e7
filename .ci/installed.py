"""Install the built wheel into this fresh venv as a newcomer would, and use it from outside the checkout.

Usage: python .ci/installed.py WHEEL README STAND_IN  (run from a directory outside the checkout)

1. The wheel without extras: ``python -m liaison.websocket`` says in one line which
   extra to install; ``--help`` and ``--version`` work.
2. The wheel with the extras README's Python client line names: the server starts
   (start marker), stops on SIGTERM (stop marker, exit 0); README's ``spawn()``
   example prints its result; ``python -m liaison --js-dir`` is the JavaScript client
   inside the installed package; the metadata has what PyPI shows.
3. STAND_IN, the wheel of the stand-in liaison-py, beside it: pip lists liaison-py of
   liaison-backend's version, as PsychoPy Studio checks, and liaison is still ours.
"""
import json
import os
import re
import select
import signal
import subprocess
import sys

EXTRA_HINT = "pip install 'liaison-backend[websocket]'"


def run(*args):
    done = subprocess.run([sys.executable] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def pip_install(requirement):
    code, out, err = run("-m", "pip", "install", "-q", requirement)
    assert code == 0, err


def check_missing_extra():
    code, out, err = run("-m", "liaison.websocket", "127.0.0.1:0")
    assert code != 0 and out == "" and err.count("\n") == 1 and EXTRA_HINT in err, err
    for option in ("--help", "--version"):
        code, out, err = run("-m", "liaison.websocket", option)
        assert code == 0 and out, err


def client_extras(readme):
    """The extras of README's Python client install line."""
    found = re.findall(r"^Python: ``pip install -e '\.\[([a-z,]+)\]'``", readme, re.M)
    assert len(found) == 1, "README.rst should have one 'Python: ``pip install -e ...``' line"
    return found[0]


def python_block(readme, containing):
    """The one ``.. code-block:: python`` body of README that contains *containing*, dedented."""
    blocks = re.findall(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", readme, re.M)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, found
    return "\n".join(line[4:] for line in found[0].splitlines())


def check_server_starts_and_stops():
    server = subprocess.Popen([sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 60)
        marker = os.read(server.stdout.fileno(), 4096).decode() if ready else ""
        assert re.fullmatch(r"LIAISON:CONNECTED@127\.0\.0\.1:\d+", marker), (marker, server.stderr.read())
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0
        assert server.stdout.read().decode() == marker.replace("CONNECTED", "DISCONNECTED")
    finally:
        server.kill()
        server.wait()
    return marker


def check_javascript_client():
    code, out, err = run("-m", "liaison", "--js-dir")
    folder = out.strip()
    _, package, _ = run("-c", "import liaison; print(liaison.__file__)")
    assert code == 0 and folder == os.path.join(os.path.dirname(package.strip()), "js"), (out, err)
    with open(os.path.join(folder, "package.json"), encoding="utf-8") as package:
        published = json.load(package)["files"]
    for name in ["liaison.js"] + published:
        assert os.path.isfile(os.path.join(folder, name)), name
    return folder


def check_metadata():
    """What PyPI shows (importlib.metadata: Python 3.8 and newer)."""
    try:
        from importlib.metadata import metadata
    except ImportError:
        return
    fields = metadata("liaison-backend")
    version = tuple(int(part) for part in fields["Version"].split(".")[:2])
    assert version >= (1, 1), fields["Version"]
    classifiers = fields.get_all("Classifier")
    for minor in range(6, 14):
        assert "Programming Language :: Python :: 3.{}".format(minor) in classifiers, minor
    assert any(line.startswith("Development Status :: ") for line in classifiers)
    assert any(line.startswith("Topic :: ") for line in classifiers)
    assert not any(line.startswith("License :: ") for line in classifiers)
    assert fields["Author"] and fields.get_all("Project-URL") and fields["License"] == "MIT"


def check_stand_in(stand_in):
    """The stand-in liaison-py installs beside the wheel, which its requirement names; pip lists both."""
    pip_install(stand_in)
    code, out, err = run("-m", "pip", "list", "--format=json")
    assert code == 0, err
    versions = {row["name"].lower(): row["version"] for row in json.loads(out)}
    code, out, err = run("-c", "import liaison; print(liaison.__version__)")
    assert code == 0 and err == "" and versions["liaison-py"] == versions["liaison-backend"] == out.strip(), (
        versions, out, err)


def main(wheel, readme_path, stand_in):
    with open(readme_path, encoding="utf-8") as file:
        readme = file.read()
    code, _, _ = run("-c", "import liaison")
    assert code != 0, "liaison is importable before the wheel is installed: run this outside the checkout"
    pip_install(wheel)
    check_missing_extra()
    pip_install("{}[{}]".format(wheel, client_extras(readme)))
    marker = check_server_starts_and_stops()
    code, out, err = run("-c", python_block(readme, "spawn()"))
    assert code == 0 and out == "1.4142135623730951\n", err
    folder = check_javascript_client()
    check_metadata()
    check_stand_in(stand_in)
    print("installed wheels on Python {}: {}, README's spawn() example, JavaScript client in {}, "
          "stand-in liaison-py".format(sys.version.split()[0], marker, folder))


if __name__ == "__main__":
    main(*sys.argv[1:])
