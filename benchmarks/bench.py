"""Measure liaison's websocket server against two plain echo servers and print a table.

Run ``python benchmarks/bench.py`` after ``pip install -e '.[websocket,bench]'``.
Every server runs in its own process on port 0; the client is the ``websockets``
package's sync client, whose masking is done in C. Each figure is the median of
several runs. The baselines are an echo server on unmodified ``websocket-server``
and one on the ``websockets`` package's threaded server; they echo the very
messages liaison is sent, so a large payload crosses twice there, once here.
"""
import contextlib
import json
import math
import os
import random
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
MB = 1000 * 1000
READY = "BENCH:READY"


class ServerProcess:
    """A server in a child process, started and timed until it prints its address."""

    def __init__(self, command, marker):
        started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)
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

    def __init__(self, name, command, marker):
        self.name = name
        self.command = command
        self.marker = marker

    def start(self):
        return ServerProcess(self.command, self.marker)

    def request(self, command, *args, ident=0):
        return json.dumps({"command": {"command": command, "args": list(args)}, "id": ident})


class Liaison(Target):
    """liaison: real commands, replies checked against the request."""

    def ping(self, ident):
        return self.request("ping", ident=ident), "pong"

    def small(self, ident):
        return self.request("run", "math:hypot", ident, 1, ident=ident), math.hypot(ident, 1)

    def check(self, sent, expected, reply):
        reply = json.loads(reply)
        return reply.get("response") == expected and reply["evt"] == json.loads(sent)

    def payload_in(self, values):
        return self.request("run", "builtins:len", values), len(values)

    def prepare_out(self, ws, size):
        """Build a string of *size* bytes on the server (untimed); return the request that gets it back."""
        pattern = string_of_size(1000)
        ws.send(self.request("init", "blob", "operator:mul", pattern, size // 1000))
        assert json.loads(ws.recv())["tag"] == "response"
        return self.request("get", "blob"), pattern * (size // 1000)


class Echo(Target):
    """A plain echo server: any message is its own expected reply, parsed as liaison's replies are."""

    def ping(self, ident):
        return self.request("ping", ident=ident), None

    def small(self, ident):
        return self.request("run", "math:hypot", ident, 1, ident=ident), None

    def check(self, sent, expected, reply):
        return json.loads(reply) == json.loads(sent)

    def payload_in(self, values):
        return self.request("run", "builtins:len", values), None

    def prepare_out(self, ws, size):
        return json.dumps({"response": string_of_size(size), "tag": "response"}), None


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
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def measure_throughput(target, server, connections):
    """Replies per second from *connections* clients sending requests in turn; and replies lost or wrong."""
    per_connection = REQUESTS // connections
    bad = [0] * connections
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(open_client(server.url)) for _ in range(connections)]
        elapsed = run_clients(clients, lambda index, ws: work(target, ws, index, per_connection, bad))
    return per_connection * connections / elapsed, sum(bad)


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


def round_trip_rates(target, ws, message, expected, counted, problem):
    """MB/s of each of ``RUNS`` round trips of *message*, every reply checked; *counted* gives the bytes
    a round trip is credited with, from the message and the reply."""
    rates = []
    for _ in range(RUNS):
        started = time.perf_counter()
        ws.send(message)
        reply = ws.recv()
        elapsed = time.perf_counter() - started
        assert target.check(message, expected, reply), problem
        rates.append(counted(message, reply) / MB / elapsed)
    return rates


def measure_in(target, server, argument):
    """MB/s of sending a request (``run builtins:len`` on *argument*) and getting its reply."""
    message, expected = target.payload_in(argument)
    with open_client(server.url) as ws:
        rates = round_trip_rates(target, ws, message, expected, lambda sent, reply: len(sent),
                                 "large request answered wrongly")
    return median(rates)


def measure_out(target, server, size):
    """MB/s of getting a *size*-byte string reply (``get`` of a stored string)."""
    with open_client(server.url) as ws:
        message, expected = target.prepare_out(ws, size)
        rates = round_trip_rates(target, ws, message, expected, lambda sent, reply: len(reply.encode()),
                                 "large reply is not intact")
    return median(rates)


def measure(target):
    """All figures for one server, as a dict."""
    startups = []
    for _ in range(STARTS):
        server = target.start()
        startups.append(server.startup)
        server.stop()
    figures = {"start-up s": median(startups)}
    server = target.start()
    try:
        latencies = [measure_latency(target, server) for _ in range(RUNS)]
        figures["ping p50 ms"] = median(p50 for p50, _ in latencies)
        figures["ping p99 ms"] = median(p99 for _, p99 in latencies)
        for connections in CONNECTIONS:
            runs = [measure_throughput(target, server, connections) for _ in range(RUNS)]
            figures["replies/s, {} conn".format(connections)] = median(rate for rate, _ in runs)
            figures["lost/wrong, {} conn".format(connections)] = sum(bad for _, bad in runs)
        for size in SIZES_MB:
            figures["{} MB floats in, MB/s".format(size)] = measure_in(target, server, floats_of_size(size * MB))
        for size in SIZES_MB:
            figures["{} MB string in, MB/s".format(size)] = measure_in(target, server, string_of_size(size * MB))
        for size in SIZES_MB:
            figures["{} MB out, MB/s".format(size)] = measure_out(target, server, size * MB)
        figures["peak memory MB"] = server.peak_memory()
    finally:
        server.stop()
    return figures


def print_table(results):
    """One row per figure; liaison's column, each baseline's, and liaison as a ratio to each."""
    names = list(results)
    baselines = names[1:]
    header = ["figure"] + names + ["{} / {}".format(names[0], name) for name in baselines]
    rows = [header]
    for figure in results[names[0]]:
        values = [results[name][figure] for name in names]
        row = [figure] + [format_value(value) for value in values]
        for value in values[1:]:
            ratio = values[0] / value if value and values[0] is not None and "lost" not in figure else None
            row.append("" if ratio is None else "{:.2f}".format(ratio))
        rows.append(row)
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for number, row in enumerate(rows):
        print("  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))))
        if number == 0:
            print("  ".join("-" * width for width in widths))


def format_value(value):
    if value is None:
        return "n/a"
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


BASELINES = {"websocket-server": serve_websocket_server, "websockets": serve_websockets}


def main():
    if sys.argv[1:2] == ["--serve"]:
        BASELINES[sys.argv[2]]()
        return
    from liaison.constants import START_MARKER
    here = os.path.abspath(__file__)
    targets = [Liaison("liaison", [sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"], START_MARKER)]
    targets += [Echo(name, [sys.executable, here, "--serve", name], READY) for name in BASELINES]
    results = {}
    for target in targets:
        sys.stderr.write("measuring {}...\n".format(target.name))
        results[target.name] = measure(target)
    print_table(results)


if __name__ == "__main__":
    main()
