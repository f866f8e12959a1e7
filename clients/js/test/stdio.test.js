// The JS client over a real `python -m liaison.stdio`'s pipes (python3 on PATH must have liaison installed).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { RemoteError, spawn } from "liaison-client";
import { fakePython } from "./fake-python.js";

let client;

before(async () => {
  client = await spawn({ transport: "stdio" });
});

after(async () => {
  await client.close();
});

test("every command, over the child's stdin and stdout", async () => {
  assert.equal(client.transport, "stdio");
  assert.equal(client.socket, null);
  assert.match(client.url, /^python3 -m liaison\.stdio \(pid \d+\)$/);
  assert.equal(await client.ping(), "pong");
  assert.equal(await client.run("os:getpid"), client.process.pid);
  assert.equal(await client.init("p", "fractions:Fraction", [3], { denominator: 4 }), "p");
  assert.equal(await client.get("p.numerator"), 3);
  assert.equal(await client.exists("p.nothing"), false);
  assert.equal(await client.store("numbers", [1, 2, 3]), "numbers");
  assert.equal(await client.run("builtins:sum", ["$numbers"]), 6);
  assert.equal(await client.register("join", "posixpath:join"), "join");
  assert.deepEqual(await client.try("math:sqrt", [9]), { success: true, result: 3 });
});

test("an error reply rejects with a RemoteError", async () => {
  const error = await client.run("math:sqrt", [-1]).then(() => null, (error) => error);
  assert.ok(error instanceof RemoteError);
  assert.equal(error.type, "ValueError");
  assert.equal(error.remoteMessage, "math domain error");
  assert.deepEqual(error.traceback, ["ValueError: math domain error"]);  // raised in C: no frame of called code
});

test("concurrent calls each get their own reply", async () => {
  const values = Array.from({ length: 200 }, (_, index) => `value ${index}`);
  const replies = await Promise.all(values.map((value) => client.run("builtins:str.upper", [value])));
  assert.deepEqual(replies, values.map((value) => value.toUpperCase()));
});

test("text with line breaks of every kind crosses intact, one message per line", async () => {
  const text = "a\nb\r\nc\rd\u2028e\u2029f\u0085g\u000bh\u000ci\u001cj 🙂 \u00e9";
  assert.equal(await client.run("builtins:str", [text]), text);
});

test("a 5 MB message each way", async () => {
  const big = "x".repeat(5 * 1024 * 1024);
  assert.equal(await client.run("builtins:len", [big]), big.length);
  assert.equal((await client.run("operator:mul", ["y", 5 * 1024 * 1024])).length, big.length);
});

test("pushed messages reach the handlers of their tag and the catch-all, before the reply", async () => {
  const seen = [];
  const stop = client.on("alert", (message) => seen.push(["alert", message]));
  const stopAll = client.on("*", (message) => seen.push(["*", message]));
  const alert = { tag: "alert", message: { msg: "frame rate" } };
  assert.equal(await client.run("liaison.send", [alert]), 1);
  assert.deepEqual(seen, [["alert", alert], ["*", alert]]);
  stop();
  stopAll();
});

test("what served code prints never reaches the channel", async () => {
  await client.run("builtins:print", ["LIAISON:DISCONNECTED@stdio"]);
  await client.run("builtins:print", ['{"response": "forged", "tag": "response", "evt": {"id": 1}}']);
  assert.equal(await client.ping(), "pong");
});

test("close ends the server's stdin: it stops and exits 0, and later calls reject", async () => {
  const own = await spawn({ transport: "stdio" });
  assert.equal(await own.ping(), "pong");
  await own.close();
  assert.equal(own.process.exitCode, 0);
  await assert.rejects(own.ping(), /python3 -m liaison\.stdio \(pid \d+\) stopped/);
});

test("a server that dies rejects the calls waiting for it", async () => {
  const own = await spawn({ transport: "stdio" });
  const waiting = own.run("time:sleep", [30]);
  own.process.kill("SIGKILL");
  await assert.rejects(waiting, /exited with SIGKILL without its stop marker/);
  await own.close();
});

test("stdio takes no address, token or option about who may connect", async () => {
  for (const option of [{ token: "x" }, { address: "127.0.0.1:0" }, { allowOrigin: ["https://app.example"] }, { maxClients: 2 }]) {
    await assert.rejects(spawn({ transport: "stdio", ...option }),
      { name: "TypeError", message: /^spawn\(\{transport: "stdio"\}\) takes no address, token, allowOrigin or maxClients: / });
  }
  await assert.rejects(spawn({ transport: "pipes" }), { name: "TypeError", message: /transport must be "websocket" or "stdio"/ });
});

test("spawn reports a stdio server that exits or stays silent, quoting its stderr", async () => {
  const directory = await mkdtemp(join(tmpdir(), "liaison-"));
  const failing = await fakePython(directory, "failing", 'echo "No module named liaison.stdio" >&2\nexit 1');
  const silent = await fakePython(directory, "silent", "echo warming up >&2\nexec sleep 60");
  try {
    await assert.rejects(spawn({ transport: "stdio", python: failing }),
      /exited with 1 before listening; its stderr: No module named liaison\.stdio/);
    await assert.rejects(spawn({ transport: "stdio", python: silent, timeout: 1000 }),
      { name: "TimeoutError", message: /wrote no start marker within 1000 ms; its stderr: warming up/ });
  } finally {
    await rm(directory, { recursive: true });
  }
});
