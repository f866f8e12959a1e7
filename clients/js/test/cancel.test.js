// Cancelling calls (cancel(), per-call timeouts, AbortSignal) and describe(), over both transports,
// against real `python -m liaison.websocket` and `python -m liaison.stdio` servers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";

import { CANCEL_GRACE, RemoteError, spawn } from "liaison-client";
import { checkEveryMessage } from "./schema.js";

checkEveryMessage();

// A pure-Python loop of some 20 s or more: interruptible at its next bytecode.
const LONG_LOOP = ["timeit:timeit", [], { stmt: "pass", number: 2000000000 }];

/**
 * Start a call that blocks in C for 3 s (not interruptible until it returns) and resolve once it runs:
 * it says so through a FIFO before it blocks. Resolves to `{call}`.
 */
async function blockedCall(client, options) {
  const directory = await mkdtemp(join(tmpdir(), "liaison-"));
  const fifo = join(directory, "started");
  execFileSync("mkfifo", [fifo]);
  try {
    const call = client.run("subprocess:run", [["sh", "-c", 'echo started > "$0"; exec sleep 3', fifo]], {}, options);
    call.catch(() => {});
    assert.equal(await readFile(fifo, "utf8"), "started\n");
    return { call };
  } finally {
    await rm(directory, { recursive: true });
  }
}

/** What a call rejects with (it must reject). */
function rejection(promise) {
  return promise.then((value) => assert.fail(`resolved to ${JSON.stringify(value)}`), (error) => error);
}

for (const transport of ["websocket", "stdio"]) {
  describe(`over ${transport}`, () => {
    let client;

    before(async () => {
      client = await spawn({ transport, WebSocket: transport === "websocket" ? WebSocket : undefined });
    });

    after(async () => {
      await client.close();
    });

    test("a call's timeout cancels it in the server, and the server is free at once", async () => {
      const error = await rejection(client.run(...LONG_LOOP, { timeout: 200 }));
      assert.equal(error.name, "TimeoutError");
      assert.match(error.message, /^no reply to run within 200 ms from .*; cancelled it$/);
      assert.ok(error.cause instanceof RemoteError);
      assert.equal(error.cause.type, "Cancelled");
      // The loop would run for 20 s or more; the server answers the next call at once.
      assert.equal(await client.run("math:sqrt", [16], {}, { timeout: 5000 }), 4);
    });

    test("a call the server cannot end within CANCEL_GRACE of its timeout rejects with a TimeoutError saying so", async () => {
      const started = Date.now();
      const { call } = await blockedCall(client, { timeout: 100 });
      const error = await rejection(call);
      assert.equal(error.name, "TimeoutError");
      assert.match(error.message, /; cancel answered "interrupted": it may still be running$/);
      assert.equal(error.cause, undefined);
      assert.ok(Date.now() - started < 3000);
      assert.equal(await client.run("math:sqrt", [16], {}, { timeout: 10000 }), 4);
    });

    test("aborting a call's signal cancels it: it rejects with the server's Cancelled error", async () => {
      const controller = new AbortController();
      const call = client.run(...LONG_LOOP, { signal: controller.signal });
      controller.abort();
      const error = await rejection(call);
      assert.ok(error instanceof RemoteError);
      assert.equal(error.type, "Cancelled");
      // The loop would run for 20 s or more (had it started); the server answers the next call at once.
      assert.equal(await client.run("math:sqrt", [16], {}, { timeout: 5000 }), 4);
    });

    test("a signal aborted before the call rejects at once with its reason, sending nothing", async () => {
      const controller = new AbortController();
      controller.abort(new Error("changed my mind"));
      const call = client.ping({ signal: controller.signal });
      assert.equal(call.id, null);
      await assert.rejects(call, { message: "changed my mind" });
    });

    test("an aborted call the server cannot end within CANCEL_GRACE rejects with the signal's reason", async () => {
      const warnings = [];
      const warn = console.warn;
      console.warn = (...args) => warnings.push(args);
      try {
        const controller = new AbortController();
        const { call } = await blockedCall(client, { signal: controller.signal });
        const aborted = Date.now();
        controller.abort();
        const error = await rejection(call);
        assert.equal(error.name, "AbortError");
        assert.ok(Date.now() - aborted >= CANCEL_GRACE - 50);
        // Its late Cancelled reply is dropped quietly once the sleep ends.
        assert.equal(await client.run("math:sqrt", [16], {}, { timeout: 10000 }), 4);
      } finally {
        console.warn = warn;
      }
      assert.deepEqual(warnings, []);
    });

    test("cancel() takes a queued call out before it runs", async () => {
      const running = client.run(...LONG_LOOP);
      const queued = client.store("side_effect", 1);
      // The Cancelled replies may come before cancel's answers.
      const errors = [rejection(running), rejection(queued)];
      assert.equal(await client.cancel(queued.id), "dequeued");
      await client.cancel(running.id);
      assert.deepEqual((await Promise.all(errors)).map((error) => error.type), ["Cancelled", "Cancelled"]);
      assert.equal(await client.exists("side_effect"), false);
    });

    test("cancel() of a finished or unknown request says so", async () => {
      const done = client.run("builtins:abs", [-1]);
      await done;
      assert.equal(await client.cancel(done.id), "finished");
      assert.equal(await client.cancel(987654321), "unknown");
    });

    test("describe() tells what a target is, and with no target the commands", async () => {
      const description = await client.describe("fractions:Fraction");
      assert.equal(description.kind, "class");
      assert.equal(description.name, "fractions:Fraction");
      assert.ok(description.members.includes("limit_denominator"));
      const commands = await client.describe();
      for (const name of ["get", "run", "try", "ping"]) assert.ok(name in commands.commands, name);
    });
  });
}
