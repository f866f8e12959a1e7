"""Unmasking client frames: right for every length and alignment, with numpy or without it, and numpy
is never imported on a client's behalf."""
import json
import os
import select
import subprocess
import sys

import pytest
import websocket

from liaison.constants import START_MARKER
from liaison.websocket import frames

SIZES = list(range(10)) + [
    frames.SMALL_PAYLOAD - 1, frames.SMALL_PAYLOAD, frames.SMALL_PAYLOAD + 1,
    frames.NUMPY_THRESHOLD - 1, frames.NUMPY_THRESHOLD, frames.NUMPY_THRESHOLD + 1, frames.NUMPY_THRESHOLD + 3,
    frames.UNMASK_CHUNK - 1, frames.UNMASK_CHUNK, frames.UNMASK_CHUNK + 1, 2 * frames.UNMASK_CHUNK + 7,
]


def bytewise(data, mask):
    """The reference: one byte at a time, as RFC 6455 section 5.3 writes it."""
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))


def big_integer(data, mask):
    """A second reference, fast enough for megabytes: one XOR of two integers."""
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(len(data), "little")


@pytest.fixture(params=["numpy imported", "numpy blocked"])
def numpy_state(request, monkeypatch):
    """Run a test once with numpy in sys.modules and once with it blocked, as a host without it."""
    if request.param == "numpy imported":
        pytest.importorskip("numpy")
    else:
        monkeypatch.setitem(sys.modules, "numpy", None)
    return request.param


@pytest.mark.parametrize("size", SIZES)
def test_unmask_matches_the_bytewise_reference(numpy_state, size):
    data, mask = os.urandom(size), os.urandom(4)
    payload = bytearray(data)
    assert frames.unmask(payload, mask) is payload
    assert payload == bytewise(data, mask)


@pytest.mark.parametrize("offset", [1, 2, 3])
@pytest.mark.parametrize("size", [5, frames.NUMPY_THRESHOLD + 2, frames.UNMASK_CHUNK + 3])
def test_unmask_of_a_buffer_that_starts_at_an_odd_address(numpy_state, offset, size):
    data, mask = os.urandom(size), os.urandom(4)
    payload = bytearray(bytes(offset) + data)
    del payload[:offset]
    assert frames.unmask(payload, mask) == bytewise(data, mask)


@pytest.mark.parametrize("size", [5 * 1000 * 1000 + 3, 8 * frames.UNMASK_CHUNK])
def test_unmask_of_large_payloads(numpy_state, size):
    data, mask = os.urandom(size), os.urandom(4)
    assert frames.unmask(bytearray(data), mask) == big_integer(data, mask)


def test_the_two_references_agree():
    data, mask = os.urandom(1001), os.urandom(4)
    assert bytewise(data, mask) == big_integer(data, mask)


def test_unmasking_twice_gives_the_payload_back(numpy_state):
    data, mask = os.urandom(frames.UNMASK_CHUNK * 2 + 5), os.urandom(4)
    assert frames.unmask(frames.unmask(bytearray(data), mask), mask) == data


# Over a real socket, to a CLI server whose numpy is imported first, blocked, or left alone.

PRELUDES = {
    "numpy imported": "import numpy\n",
    "numpy blocked": "import sys\nsys.modules['numpy'] = None\n",
    "numpy left alone": "",
}


@pytest.fixture
def cli_server(request):
    """``python -m liaison.websocket`` run after a prelude; yields a connected websocket-client."""
    code = PRELUDES[request.param] + "import runpy\nrunpy.run_module('liaison.websocket', run_name='__main__')\n"
    process = subprocess.Popen([sys.executable, "-c", code, "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no start marker within 20 s"
        line = os.read(process.stdout.fileno(), 65536).decode()
        assert line.startswith(START_MARKER + "@"), line + process.stderr.read().decode()
        port = int(line.strip().rpartition(":")[2])
        ws = websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=30)
        yield ws
        ws.close()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def call(ws, command, *args):
    """One request; the response, after checking the reply echoes the request intact."""
    request = {"command": {"command": command, "args": list(args)}, "id": 1}
    ws.send(json.dumps(request))
    reply = json.loads(ws.recv())
    assert reply["tag"] == "response", reply
    assert reply["evt"] == request
    return reply["response"]


@pytest.mark.parametrize("cli_server", ["numpy imported", "numpy blocked"], indirect=True)
def test_messages_of_every_size_arrive_intact(cli_server):
    for size in SIZES + [3 * 1000 * 1000 + 1]:
        text = ("abcdefghijklmnopqrstuvwxyz\u00e9" * (size // 27 + 1))[:size]
        assert call(cli_server, "run", "builtins:len", text) == size
        cli_server.send_binary(json.dumps({"command": {"command": "run", "args": ["builtins:len", text]}}).encode())
        assert json.loads(cli_server.recv())["response"] == size


@pytest.mark.parametrize("cli_server", ["numpy blocked"], indirect=True)
def test_numpy_is_really_blocked_in_that_server(cli_server):
    assert call(cli_server, "exists", "numpy:frombuffer") is False


@pytest.mark.parametrize("cli_server", ["numpy left alone"], indirect=True)
def test_a_large_message_does_not_import_numpy(cli_server):
    pytest.importorskip("numpy")
    call(cli_server, "register", "modules", "sys:modules")
    assert call(cli_server, "run", "builtins:len", "x" * (frames.NUMPY_THRESHOLD * 25)) == frames.NUMPY_THRESHOLD * 25
    assert call(cli_server, "run", "operator:contains", "$modules", "numpy") is False
