// spawn()'s options for the server and its process, over both transports, against real servers
// (python3 on PATH must have liaison installed). Node 20 has no global WebSocket: the ws package's is passed in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";

import { RemoteError, spawn } from "liaison-client";
import { fakePython } from "./fake-python.js";

/** Run `body(directory)` with a fresh temporary directory, removed afterwards. */
async function inTemporaryDirectory(body) {
  const directory = await mkdtemp(join(tmpdir(), "liaison-"));
  try {
    return await body(directory);
  } finally {
    await rm(directory, { recursive: true });
  }
}

/** Run `body(client)` with a client of a server spawned with `options`, which is stopped afterwards. */
async function withSpawned(options, body) {
  const client = await spawn({ WebSocket, ...options });
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/** What `body()` writes to this process's stderr (a spawned server's stderr is passed through to it), and its result. */
async function stderrOf(body) {
  const shown = [];
  const write = process.stderr.write;
  process.stderr.write = (text) => shown.push(String(text)) > 0;
  try {
    const result = await body();
    return { stderr: shown.join(""), result };
  } finally {
    process.stderr.write = write;
  }
}

for (const transport of ["websocket", "stdio"]) {
  test(`spawn starts Python once (${transport})`, async () => {
    await inTemporaryDirectory(async (directory) => {
      const log = join(directory, "started");
      const python = await fakePython(directory, "python", `echo "$@" >> "${log}"\nexec python3 "$@"`);
      await withSpawned({ transport, python }, async (client) => assert.equal(await client.ping(), "pong"));
      const expected = transport === "stdio" ? "-m liaison.stdio\n" : "-m liaison.websocket 127.0.0.1:0\n";
      assert.equal(await readFile(log, "utf8"), expected);
    });
  });

  test(`spawn passes allowImport, logLevel, maxSize and args to the server (${transport})`, async () => {
    const options = { transport, allowImport: ["math"], logLevel: "DEBUG", maxSize: 5000, args: ["--send-timeout", "30"] };
    const { stderr } = await stderrOf(() => withSpawned(options, async (client) => {
      assert.match(client.url, transport === "stdio" ? / -m liaison\.stdio --allow-import math --log-level DEBUG --max-size 5000 --send-timeout 30 \(pid/ : /^ws:/);
      assert.equal(await client.run("math:sqrt", [16]), 4);
      const refused = await client.run("os:getpid").then(() => null, (error) => error);
      assert.ok(refused instanceof RemoteError);
      assert.equal(refused.type, "PolicyError");
      assert.equal(await client.get("liaison.max_size"), 5000);
      assert.equal(await client.get("liaison.send_timeout"), 30);
    }));
    assert.match(stderr, /liaison DEBUG: /);
  });

  test(`spawn runs the server in cwd with env, which replaces this process's environment (${transport})`, async () => {
    await inTemporaryDirectory(async (directory) => {
      const env = { PATH: process.env.PATH, LIAISON_SPAWN_TEST: "given" };
      await withSpawned({ transport, cwd: directory, env }, async (client) => {
        assert.equal(await client.run("os:getcwd"), await realpath(directory));
        assert.equal(await client.run("os:getenv", ["LIAISON_SPAWN_TEST"]), "given");
        assert.equal(await client.run("os:getenv", ["HOME"]), null);
      });
    });
  });
}

test("spawn passes allowOrigin and maxClients to a websocket server", async () => {
  const options = { allowOrigin: ["https://app.example", "https://other.example"], maxClients: 3, logLevel: "INFO" };
  const { stderr } = await stderrOf(() => withSpawned(options, async (client) => {
    assert.deepEqual(await client.get("liaison.allow_origin"), ["https://app.example", "https://other.example"]);
    assert.equal(await client.get("liaison.max_clients"), 3);
  }));
  assert.match(stderr, /liaison INFO: /);
});

test("spawn hands the token to a websocket server in its environment, never on its command line", async () => {
  await withSpawned({ token: "not for argv" }, async (client) => {
    assert.equal(await client.run("os:getenv", ["LIAISON_TOKEN"]), "not for argv");
    const commandLine = await readFile(`/proc/${client.process.pid}/cmdline`, "utf8");
    assert.ok(commandLine.includes("liaison.websocket") && !commandLine.includes("not for argv"), commandLine);
  });
});

test("a string is one allowImport prefix", async () => {
  await withSpawned({ transport: "stdio", allowImport: "math" }, async (client) => {
    assert.equal(await client.run("math:sqrt", [4]), 2);
    await assert.rejects(client.run("os:getpid"), { type: "PolicyError" });
  });
});
