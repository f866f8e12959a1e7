"""Measure liaison's websocket server against plain echo servers and upstream liaison-py; print tables.

Run ``python benchmarks/bench.py`` from the repository root after
``pip install -e '.[websocket,bench]'``; ``--readme`` prints the tables as the
README's benchmark section shows them, with the machine they ran on.

Every server runs in its own process on port 0; the client is the
``websockets`` package's sync client, whose masking is done in C. Each figure
is the median of several runs. liaison runs three times: as installed, with
numpy blocked (an install without numpy), and with numpy imported before it
starts (a host such as PsychoPy that uses numpy). The baselines are an echo
server on unmodified ``websocket-server`` and one on the ``websockets``
package's threaded server; they echo the very messages liaison is sent, so a
large payload crosses twice there, once here. Upstream liaison-py 1.0.1, in a
venv this script makes under the user's cache directory (both packages are
named ``liaison``), is measured for start-up and ping round trips.

Every server is started once untimed before its start-ups are timed, and
liaison's processes may write their bytecode (to a cache under the user's cache
directory, even when ``PYTHONDONTWRITEBYTECODE`` is set): start-up is then
measured as after ``pip install``, which compiles every module, as it did
liaison-py's.

``--capture`` measures what capturing a command's output costs instead, on one
``python -m liaison.websocket`` over one connection: round trips of ``run
math:hypot`` as a plain request, with ``"output": false`` (capture off, said
so) and with ``"output": true`` (capture on, nothing printed), taking turns;
and a command printing ``CAPTURED_LINES`` lines with capture off (they go to
the server's stdout, read here) and on (they come as output messages before
the reply): the time to the reply, and the messages and text received.
"""
import collections
import contextlib
import functools
import json
import math
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

RUNS = 3
STARTS = 5
PINGS = 1000
REQUESTS = 3000
CONNECTIONS = (1, 8, 32)
SIZES_MB = (1, 10, 50)
CAPTURED_LINES = 100000
#: The command that prints CAPTURED_LINES lines, each as its own ``print``.
PRINTING = ("for number in range({}):\n"
            "    print('line', number)\n").format(CAPTURED_LINES)
MB = 1000 * 1000
READY = "BENCH:READY"
UPSTREAM = "liaison-py[websocket]==1.0.1"
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache")),
                     "liaison-bench")
#: Python code run before ``python -m liaison.websocket`` for each liaison column.
LIAISON_PRELUDES = {
    "liaison": "",
    "liaison, no numpy": "import sys\nsys.modules['numpy'] = None\n",
    "liaison, numpy loaded": "import numpy\n",
}


class ServerProcess:
    """A server in a child process, started and timed until it prints its address."""

    def __init__(self, command, marker, env=None):
        started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
        output = b""
        while marker.encode() + b"@" not in output or not output.rstrip()[-1:].isdigit():
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("{} exited before it printed {}".format(" ".join(command), marker))
            output += chunk
        self.startup = time.perf_counter() - started
        self.port = int(output.decode().strip().rpartition(":")[2])
        self.url = "ws://127.0.0.1:{}".format(self.port)

    def peak_memory(self):
        """The child's peak resident memory in MB, from /proc (Linux only; None elsewhere)."""
        try:
            with open("/proc/{}/status".format(self.process.pid)) as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024 / MB
        except OSError:
            return None

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()


class Target:
    """How to talk to one kind of server: what to send and how to check the reply."""

    #: Measured for start-up and ping round trips only.
    latency_only = False
    #: The server's environment (None: this process's).
    env = None

    def __init__(self, name, command, marker):
        self.name = name
        self.command = command
        self.marker = marker

    def start(self):
        return ServerProcess(self.command, self.marker, self.env)


class Liaison(Target):
    """liaison: real commands, replies checked against the request."""

    #: Bytecode is written, as ``pip install`` writes it, to a cache of the benchmark's own.
    env = dict(os.environ, PYTHONPYCACHEPREFIX=os.path.join(CACHE, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def ping(self, ident):
        return request("ping", ident=ident), "pong"

    def small(self, ident):
        return request("run", "math:hypot", ident, 1, ident=ident), math.hypot(ident, 1)

    def check(self, sent, expected, reply):
        reply = json.loads(reply)
        return reply.get("response") == expected and reply["evt"] == json.loads(sent)

    def expected_in(self, values):
        return len(values)

    def prepare_out(self, ws, size):
        """Build a string of *size* bytes on the server (untimed); return the request that gets it back."""
        pattern = string_of_size(1000)
        ws.send(request("init", "blob", "operator:mul", pattern, size // 1000))
        assert json.loads(ws.recv())["tag"] == "response"
        return request("get", "blob"), pattern * (size // 1000)


class Upstream(Liaison):
    """liaison-py 1.0.1 in its own venv; it prints the port it is given, so it is given a free one."""

    latency_only = True

    def start(self):
        return ServerProcess(self.command + ["127.0.0.1:{}".format(free_port())], self.marker, self.env)


class Echo(Target):
    """A plain echo server: any message is its own expected reply, parsed as liaison's replies are."""

    def ping(self, ident):
        return request("ping", ident=ident), None

    def small(self, ident):
        return request("run", "math:hypot", ident, 1, ident=ident), None

    def check(self, sent, expected, reply):
        return json.loads(reply) == json.loads(sent)

    def expected_in(self, values):
        return None

    def prepare_out(self, ws, size):
        return json.dumps({"response": string_of_size(size), "tag": "response"}), None


def request(command, *args, ident=0):
    """The text of a liaison request."""
    return json.dumps({"command": {"command": command, "args": list(args)}, "id": ident})


def open_client(url):
    from websockets.sync.client import connect
    return connect(url, max_size=None, compression=None, ping_interval=None, open_timeout=30)


def median(values):
    return statistics.median(values)


def measure_latency(target, server):
    """p50 and p99 of request-reply round trips over one connection, in ms."""
    times = []
    with open_client(server.url) as ws:
        for ident in range(PINGS):
            message, expected = target.ping(ident)
            started = time.perf_counter()
            ws.send(message)
            reply = ws.recv()
            times.append(time.perf_counter() - started)
            assert target.check(message, expected, reply), reply
    times.sort()
    return {"ping p50 ms": times[len(times) // 2] * 1000, "ping p99 ms": times[int(len(times) * 0.99)] * 1000}


def measure_throughput(target, server, connections):
    """Replies per second from *connections* clients sending requests in turn; and replies lost or wrong."""
    per_connection = REQUESTS // connections
    bad = [0] * connections
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(open_client(server.url)) for _ in range(connections)]
        elapsed = run_clients(clients, lambda index, ws: work(target, ws, index, per_connection, bad))
    return {"replies/s, {} conn".format(connections): per_connection * connections / elapsed,
            "lost/wrong, {} conn".format(connections): sum(bad)}


def run_clients(clients, work):
    """Run *work* on every client at once, from a common start; return the seconds until all are done."""
    barrier = threading.Barrier(len(clients) + 1)

    def start_together(index, ws):
        barrier.wait()
        work(index, ws)

    threads = [threading.Thread(target=start_together, args=(index, ws)) for index, ws in enumerate(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def work(target, ws, index, count, bad):
    """Send *count* small requests in turn on *ws*, counting replies lost or wrong in ``bad[index]``."""
    for number in range(count):
        message, expected = target.small(index * count + number)
        ws.send(message)
        try:
            reply = ws.recv(timeout=30)
        except TimeoutError:
            bad[index] += count - number
            return
        if not target.check(message, expected, reply):
            bad[index] += 1


def floats_of_size(size):
    """A list of floats whose JSON is about *size* bytes."""
    rng = random.Random(size)
    return [rng.random() for _ in range(size // 20)]


def string_of_size(size):
    """A string of *size* letters."""
    return "".join(chr(0x61 + index % 26) for index in range(1000)) * (size // 1000)


def round_trip_rate(target, ws, message, expected, counted, problem):
    """MB/s of one round trip of *message*, its reply checked; *counted* gives the bytes it is credited
    with, from the message and the reply."""
    started = time.perf_counter()
    ws.send(message)
    reply = ws.recv()
    elapsed = time.perf_counter() - started
    assert target.check(message, expected, reply), problem
    return counted(message, reply) / MB / elapsed


def measure_in(target, server, figure, message, values):
    """MB/s of sending *message* (``run builtins:len`` on *values*) and getting its reply."""
    with open_client(server.url) as ws:
        rate = round_trip_rate(target, ws, message, target.expected_in(values), lambda sent, reply: len(sent),
                               "large request answered wrongly")
    return {figure: rate}


def measure_out(target, server, figure, size):
    """MB/s of getting a *size*-byte string reply (``get`` of a stored string)."""
    with open_client(server.url) as ws:
        message, expected = target.prepare_out(ws, size)
        rate = round_trip_rate(target, ws, message, expected, lambda sent, reply: len(reply.encode()),
                               "large reply is not intact")
    return {figure: rate}


def probes():
    """What to measure, in table order: ``(for latency-only targets too?, probe)``, where
    ``probe(target, server)`` returns ``{figure: value}``. Large messages are built once, when reached."""
    yield True, measure_latency
    for connections in CONNECTIONS:
        yield False, functools.partial(measure_throughput, connections=connections)
    for kind, make in (("floats", floats_of_size), ("string", string_of_size)):
        for size in SIZES_MB:
            values = make(size * MB)
            yield False, functools.partial(measure_in, figure="{} MB {} in, MB/s".format(size, kind),
                                           message=request("run", "builtins:len", values), values=values)
    for size in SIZES_MB:
        yield False, functools.partial(measure_out, figure="{} MB out, MB/s".format(size), size=size * MB)


def measure(targets):
    """Every figure of every target, as ``{name: {figure: value}}``.

    Each figure is measured ``RUNS`` times on every server in turn, all servers
    running side by side, so that load from elsewhere on the machine falls on
    all of them alike; a figure is the median of its runs (lost replies: the sum).
    """
    samples = {target.name: collections.defaultdict(list) for target in targets}
    for target in targets:
        target.start().stop()  # untimed: files cached, bytecode written
    for _ in range(STARTS):
        for target in targets:
            server = target.start()
            samples[target.name]["start-up s"].append(server.startup)
            server.stop()
    servers = {}
    try:
        for target in targets:
            servers[target.name] = target.start()
        for for_all, probe in probes():
            for _ in range(RUNS):
                for target in targets:
                    if for_all or not target.latency_only:
                        for figure, value in probe(target, servers[target.name]).items():
                            samples[target.name][figure].append(value)
        for target in targets:
            if not target.latency_only:
                samples[target.name]["peak memory MB"].append(servers[target.name].peak_memory())
    finally:
        for server in servers.values():
            server.stop()
    return {name: {figure: sum(values) if figure.startswith("lost") else median(values)
                   for figure, values in figures.items()}
            for name, figures in samples.items()}


def tables(results):
    """The figures of every server, then liaison's as ratios to each baseline; as lists of text lines."""
    names = list(results)
    figures = list(results[names[0]])
    ours = [name for name in names if name.startswith("liaison,") or name == "liaison"]
    theirs = [name for name in names if name not in ours]
    lines = format_table(["figure"] + names, [
        [figure] + [format_value(results[name].get(figure)) for name in names] for figure in figures])
    for baseline in theirs:
        rows = []
        for figure in figures:
            if figure in results[baseline] and "lost" not in figure:
                rows.append([figure] + [format_ratio(results[name][figure], results[baseline][figure])
                                        for name in ours])
        lines += [""] + format_table(["ratio to " + baseline] + ours, rows)
    return lines


def format_table(header, rows):
    """Columns padded to their widest cell, the first left-aligned, under a ruled header."""
    rows = [header] + rows
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                               for column, (cell, width) in enumerate(zip(row, widths))).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def format_ratio(ours, theirs):
    """``ours / theirs``, or empty when either is missing or zero."""
    return "{:.2f}".format(ours / theirs) if ours and theirs else ""


def format_value(value):
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return "{:.3g}".format(value) if value < 100 else "{:.0f}".format(value)


def serve_websocket_server():
    """A plain echo server on unmodified websocket-server."""
    from websocket_server import WebsocketServer
    server = WebsocketServer(host="127.0.0.1", port=0)
    server.set_fn_message_received(lambda client, server, message: server.send_message(client, message))
    announce(server.port)
    server.run_forever()


def serve_websockets():
    """A plain echo server on the websockets package's threaded server."""
    from websockets.sync.server import serve

    def echo(ws):
        for message in ws:
            ws.send(message)

    with serve(echo, "127.0.0.1", 0, max_size=None, compression=None, ping_interval=None) as server:
        announce(server.socket.getsockname()[1])
        server.serve_forever()


def announce(port):
    sys.stdout.write("{}@127.0.0.1:{}".format(READY, port))
    sys.stdout.flush()


def free_port():
    """A loopback port nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BASELINES = {"websocket-server": serve_websocket_server, "websockets": serve_websockets}


def upstream_python():
    """The Python of a venv holding liaison-py 1.0.1, made on first use; None if it cannot be made."""
    venv = os.path.join(CACHE, "liaison-py-1.0.1-py{}.{}".format(*sys.version_info[:2]))
    python = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
    installed = os.path.join(venv, "installed")
    if not os.path.exists(installed):
        sys.stderr.write("making a venv with {} in {}...\n".format(UPSTREAM, venv))
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", UPSTREAM], check=True)
        except (OSError, subprocess.CalledProcessError) as problem:
            sys.stderr.write("skipping {}: {}\n".format(UPSTREAM, problem))
            return None
        open(installed, "w").close()
    return python


def liaison_command(prelude):
    """``python -m liaison.websocket 127.0.0.1:0``, after *prelude* runs in the same process."""
    if not prelude:
        return [sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"]
    code = prelude + "import runpy\nrunpy.run_module('liaison.websocket', run_name='__main__', alter_sys=True)\n"
    return [sys.executable, "-c", code, "127.0.0.1:0"]


def measure_capture(url):
    """Round trips with capture off and on, and the printing command with capture off and on: ``{figure: value}``."""
    samples = collections.defaultdict(list)
    with open_client(url) as ws:
        fields = {"plain request": {}, '"output": false': {"output": False}, '"output": true': {"output": True}}
        times = {name: [] for name in fields}
        for ident in range(PINGS):
            for name, extra in fields.items():
                message = dict(json.loads(request("run", "math:hypot", ident, 1, ident=ident)), **extra)
                started = time.perf_counter()
                ws.send(json.dumps(message))
                reply = json.loads(ws.recv())
                times[name].append(time.perf_counter() - started)
                assert reply["response"] == math.hypot(ident, 1), reply
        for name, values in times.items():
            samples["round trip, {}, p50 ms".format(name)].append(median(values) * 1000)
        for _ in range(RUNS):
            for capture in (False, True):
                figures = print_lines(ws, capture)
                for figure, value in figures.items():
                    samples[figure].append(value)
    return {figure: median(values) for figure, values in samples.items()}


def print_lines(ws, capture):
    """Run the printing command with capture off or on; the seconds to its reply, and what output came."""
    message = dict(json.loads(request("run", "builtins:exec", PRINTING)), output=capture)
    started = time.perf_counter()
    ws.send(json.dumps(message))
    messages = text = 0
    while True:
        reply = json.loads(ws.recv())
        if reply.get("tag") != "stream":
            break
        messages += 1
        text += len(reply["text"])
    elapsed = time.perf_counter() - started
    assert reply["tag"] == "response", reply
    name = "{:,} lines, capture {}".format(CAPTURED_LINES, "on" if capture else "off")
    figures = {name + ", s to the reply": elapsed}
    if capture:
        assert text == sum(len("line {}\n".format(number)) for number in range(CAPTURED_LINES)), text
        figures.update({name + ", messages": messages, name + ", MB of text": text / MB})
    return figures


def capture_main(readme):
    """``--capture``: the figures of :func:`measure_capture` as a table."""
    where = machine()
    from liaison.constants import START_MARKER
    server = Liaison("liaison", liaison_command(""), START_MARKER).start()
    # With capture off the lines go to the server's stdout: read it all, as a frontend would.
    output = server.process.stdout.fileno()
    threading.Thread(target=lambda: collections.deque(iter(lambda: os.read(output, 65536), b""), 0),
                     daemon=True).start()
    try:
        results = measure_capture(server.url)
    finally:
        server.stop()
    lines = format_table(["figure", "liaison"], [[figure, format_value(value)] for figure, value in results.items()])
    if readme:
        print("Measured on {}, ``python benchmarks/bench.py --capture --readme``::".format(where))
        print()
        lines = ["    " + line for line in lines]
    else:
        print(where)
    print("\n".join(lines))


def machine():
    """Where the figures were taken: cores, CPU model, Python and numpy versions, load."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    try:
        import numpy
        numpy_version = "numpy " + numpy.__version__
    except ImportError:
        numpy_version = "no numpy"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = "load average {:.2f} at the start".format(os.getloadavg()[0]) if hasattr(os, "getloadavg") else ""
    return "{} cores ({}), {} {}, {}, {}".format(cores, cpu, platform.python_implementation(),
                                                platform.python_version(), numpy_version, load)


def main():
    if sys.argv[1:2] == ["--serve"]:
        BASELINES[sys.argv[2]]()
        return
    options = sys.argv[1:]
    readme = "--readme" in options
    if set(options) - {"--readme", "--capture"} or len(set(options)) < len(options):
        sys.exit("usage: python benchmarks/bench.py [--capture] [--readme]")
    if "--capture" in options:
        capture_main(readme)
        return
    from liaison.constants import START_MARKER
    where = machine()
    here = os.path.abspath(__file__)
    targets = [Liaison(name, liaison_command(prelude), START_MARKER) for name, prelude in LIAISON_PRELUDES.items()]
    targets += [Echo(name, [sys.executable, here, "--serve", name], READY) for name in BASELINES]
    upstream = upstream_python()
    if upstream is not None:
        targets.append(Upstream("liaison-py 1.0.1", [upstream, "-I", "-m", "liaison.websocket"], START_MARKER))
    sys.stderr.write("measuring {}...\n".format(", ".join(target.name for target in targets)))
    lines = tables(measure(targets))
    if readme:
        print("Measured on {}, ``python benchmarks/bench.py --readme``::".format(where))
        print()
        lines = ["    " + line if line else "" for line in lines]
    else:
        print(where)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
