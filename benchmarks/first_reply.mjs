// Time from starting Python in Node to the first reply: liaison-client's spawn() over stdio and over a
// websocket, against python-shell running a script that answers the same request.
//
// Run from the repository root, after `pip install -e '.[websocket]'` and `npm ci` in clients/js:
//   node benchmarks/first_reply.mjs [--python PYTHON] [--runs N] [--readme]
// Every contender starts once untimed (files cached, bytecode written), then N times each, taking turns, so that
// load from elsewhere falls on all of them alike. Each run starts a fresh Python and ends when the reply to
// sqrt(2) is in; the tables give the median and the 90th percentile in ms. python-shell (pinned below) is
// installed with npm into a folder of this benchmark's own under the user's cache directory, as
// benchmarks/bench.py installs liaison-py. Node before 22 gets the ws package's WebSocket from clients/js.
import { execFileSync, spawn as spawnProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

import { spawn } from "../clients/js/liaison.js";

const PYTHON_SHELL = "python-shell@5.0.0";
const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "liaison-bench", "first-reply");

// What python-shell runs: one JSON request per line on stdin, one JSON reply per line on stdout.
const ANSWER = `import json, math, sys

for line in sys.stdin:
    request = json.loads(line)
    print(json.dumps({"id": request["id"], "response": math.sqrt(request["x"])}), flush=True)
`;

const { values: options } = parseArgs({
  options: { python: { type: "string", default: "python3" }, runs: { type: "string", default: "20" }, readme: { type: "boolean" } },
});
const RUNS = Number(options.runs);

/** python-shell's PythonShell class, installed into the cache once. */
async function pythonShell() {
  const installed = join(CACHE, "node_modules", "python-shell");
  if (!existsSync(installed)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", CACHE, PYTHON_SHELL], { stdio: "ignore" });
  }
  return createRequire(join(CACHE, "package.json"))("python-shell").PythonShell;
}

/** The WebSocket class spawn() uses: the platform's, or the ws package's from clients/js. */
function webSocketClass() {
  return globalThis.WebSocket ?? createRequire(new URL("../clients/js/package.json", import.meta.url))("ws").WebSocket;
}

/** The contenders: each function starts Python, waits for the reply to sqrt(2), stops it, and resolves to the ms taken. */
function contenders(PythonShell, script) {
  const WebSocket = webSocketClass();
  const liaison = (transport) => async () => {
    const started = performance.now();
    const client = await spawn({ transport, python: options.python, WebSocket });
    await client.run("math:sqrt", [2]);
    const elapsed = performance.now() - started;
    await client.close();
    return elapsed;
  };
  return {
    "python -c pass": () => new Promise((resolve, reject) => {
      const started = performance.now();
      spawnProcess(options.python, ["-c", "pass"], { stdio: "ignore" })
        .once("exit", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`exit ${code}`))));
    }),
    "python-shell": async () => {
      const started = performance.now();
      const shell = new PythonShell(script, { mode: "json", pythonPath: options.python });
      const reply = new Promise((resolve) => shell.once("message", resolve));
      shell.send({ id: 1, x: 2 });
      await reply;
      const elapsed = performance.now() - started;
      await new Promise((resolve, reject) => shell.end((error) => (error ? reject(error) : resolve())));
      return elapsed;
    },
    "liaison stdio": liaison("stdio"),
    "liaison websocket": liaison("websocket"),
  };
}

function percentile(values, fraction) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  const line = (row) => row.map((cell, column) => (column ? String(cell).padStart(widths[column]) : String(cell).padEnd(widths[column])))
    .join("  ").trimEnd();
  return [line(rows[0]), widths.map((width) => "-".repeat(width)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

async function main() {
  const PythonShell = await pythonShell();
  const script = join(CACHE, "answer.py");
  writeFileSync(script, ANSWER);
  const runs = contenders(PythonShell, script);
  const load = loadavg()[0];
  for (const run of Object.values(runs)) await run();
  const times = Object.fromEntries(Object.keys(runs).map((name) => [name, []]));
  for (let round = 0; round < RUNS; round++) {
    for (const [name, run] of Object.entries(runs)) times[name].push(await run());
  }
  const shellMedian = percentile(times["python-shell"], 0.5);
  const rows = [["first reply", "median ms", "p90 ms", "median / python-shell"]];
  for (const [name, values] of Object.entries(times)) {
    const median = percentile(values, 0.5);
    rows.push([name, median.toFixed(1), percentile(values, 0.9).toFixed(1), (median / shellMedian).toFixed(2)]);
  }
  if (options.readme) {
    const version = execFileSync(options.python, ["-c", "import platform; print(platform.python_version())"]).toString().trim();
    console.log(`Measured on ${cpus().length} cores (${cpus()[0].model.trim()}), CPython ${version}, Node ${process.version}, ` +
      `${RUNS} runs, load average ${load.toFixed(2)} at the start, \`\`node benchmarks/first_reply.mjs --readme\`\`::\n`);
    console.log(table(rows).replace(/^/gm, "    "));
  } else {
    console.log(table(rows));
  }
}

await main();
