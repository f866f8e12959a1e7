"""Measure what relaying served code's stdout costs under ``python -m liaison.websocket``; print a table.

Run ``python benchmarks/stdout_relay.py`` from the repository root after
``pip install -e '.[websocket]'`` (POSIX). A command prints lines with
``print`` (stdout line-buffered, as liaison makes it) while this process reads
the server's stdout. The baseline is ``python -c`` printing the same lines
straight into a pipe, line-buffered too. Throughput: the time to print
``LINES`` lines, in the command and until the last one is read here. Latency:
from a line's ``print`` to its arrival here, for lines printed a millisecond
apart (``time.monotonic`` is the same clock in every process on Linux). Each
figure is the median of ``RUNS`` runs.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import websocket

RUNS = 5
LINES = 100000
PACED_LINES = 1000

#: Prints LINES numbered lines, then one line with the seconds that took.
FLOOD = """
import sys, time
started = time.perf_counter()
for number in range({lines}):
    print("line", number)
print("took", time.perf_counter() - started)
"""

#: Prints PACED_LINES lines a millisecond apart, each with the time of its print.
PACED = """
import sys, time
for number in range({lines}):
    print("at", time.monotonic())
    time.sleep(0.001)
print("took", 0)
"""


def read_lines(fd, on_line):
    """Call ``on_line(line, arrival)`` for each line on *fd* until one starts with ``took``; return that one."""
    buffer = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        arrival = time.monotonic()
        if not chunk:
            raise RuntimeError("stdout ended early")
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"took"):
                return line
            on_line(line, arrival)


def through_liaison(code):
    """Run *code* as a command of ``python -m liaison.websocket``; yield to the reader."""
    server = subprocess.Popen([sys.executable, "-m", "liaison.websocket", "127.0.0.1:0"], stdout=subprocess.PIPE)
    port = int(os.read(server.stdout.fileno(), 4096).decode().rpartition(":")[2])
    client = websocket.create_connection("ws://127.0.0.1:{}".format(port))
    client.send(json.dumps({"command": {"command": "run", "args": ["builtins:exec", code]}, "id": 1}))
    return server, client


def measure(code, liaison, on_line):
    """Run *code* once; return (seconds the printing took in the command, seconds until its last line was read)."""
    started = time.perf_counter()
    if liaison:
        server, client = through_liaison(code)
        started = time.perf_counter()
    else:
        server = subprocess.Popen([sys.executable, "-c", "import sys\nsys.stdout = open(1, 'w', buffering=1)\n"
                                   + code], stdout=subprocess.PIPE)
    took = read_lines(server.stdout.fileno(), on_line)
    read = time.perf_counter() - started
    if liaison:
        client.recv()
        client.send(json.dumps({"command": {"command": "run", "args": ["liaison.stop"]}, "id": 2}))
        client.recv()
        client.close()
    server.stdout.close()
    server.wait()
    return float(took.split()[1]), read


def main():
    rows = []
    for liaison in (False, True):
        prints, reads, delays = [], [], []
        for _ in range(RUNS):
            printing, reading = measure(FLOOD.format(lines=LINES), liaison, lambda line, arrival: None)
            prints.append(printing)
            reads.append(reading)
            measure(PACED.format(lines=PACED_LINES), liaison,
                    lambda line, arrival: delays.append(arrival - float(line.split()[1])))
        delays.sort()
        rows.append(("liaison.websocket" if liaison else "plain pipe", statistics.median(prints),
                     statistics.median(reads), delays[len(delays) // 2], delays[int(len(delays) * 0.99)]))
    print("{:,} lines printed; latency over {:,} lines a millisecond apart, {} runs".format(LINES, PACED_LINES, RUNS))
    print("{:<18} {:>12} {:>12} {:>16} {:>16}".format("", "print (s)", "read (s)", "latency p50 (ms)",
                                                      "latency p99 (ms)"))
    for name, printing, reading, p50, p99 in rows:
        print("{:<18} {:>12.3f} {:>12.3f} {:>16.3f} {:>16.3f}".format(name, printing, reading, p50 * 1000, p99 * 1000))


if __name__ == "__main__":
    main()
