// The JS client against a real `python -m liaison.websocket` (python3 on PATH must have liaison installed).
// Node 20 has no global WebSocket, so the tests pass the ws package in.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket, WebSocketServer } from "ws";

import * as liaison from "liaison-client";
import { connect, RemoteError, spawn } from "liaison-client";
import { fakePython } from "./fake-python.js";

let server;

before(async () => {
  server = await spawn({ WebSocket });
});

after(async () => {
  await server.close();
});

/** What a call rejects with (it must reject). */
function rejection(promise) {
  return promise.then((value) => assert.fail(`resolved to ${JSON.stringify(value)}`), (error) => error);
}

test("every command", async () => {
  const client = await connect(server.url, { WebSocket });
  assert.equal(await client.ping(), "pong");
  assert.equal(await client.run("math:pow", [2, 10]), 1024);
  assert.equal(await client.init("p", "fractions:Fraction", [3], { denominator: 4 }), "p");
  assert.equal(await client.get("p.numerator"), 3);
  assert.equal(await client.exists("p.denominator"), true);
  assert.equal(await client.exists("p.nothing"), false);
  assert.equal(await client.store("numbers", [1, 2, 3]), "numbers");
  assert.equal(await client.run("builtins:sum", ["$numbers"]), 6);
  assert.equal(await client.register("join", "posixpath:join"), "join");
  assert.equal(await client.run("join", ["a", "b"]), "a/b");
  assert.deepEqual(await client.try("math:sqrt", [9]), { success: true, result: 3 });
  assert.equal((await client.try("math:sqrt", [-1])).success, false);
  await client.close();
});

test("an error reply rejects with a RemoteError carrying type, message and the traceback lines", async () => {
  const client = await connect(server.url, { WebSocket });
  const error = await rejection(client.run("fractions:Fraction", [1, 0]));
  assert.ok(error instanceof RemoteError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "RemoteError");
  assert.equal(error.type, "ZeroDivisionError");
  assert.equal(error.remoteMessage, "Fraction(1, 0)");
  assert.equal(error.message, "ZeroDivisionError: Fraction(1, 0)");
  assert.equal(error.traceback[0], "Traceback (most recent call last):");
  assert.match(error.traceback[1], /^ {2}File ".*fractions\.py", line \d+, in __new__$/);  // the called code's frame comes first
  assert.equal(error.traceback.at(-1), "ZeroDivisionError: Fraction(1, 0)");
  assert.ok(error.traceback.every((line) => !line.includes("\n")));
  assert.equal(await client.ping(), "pong");
  await client.close();
});

test("an error liaison raises itself, such as a typo in a target, is one line with no traceback", async () => {
  const client = await connect(server.url, { WebSocket });
  const error = await rejection(client.run("math:sqrtt"));
  assert.equal(error.type, "ResolveError");
  assert.deepEqual(error.traceback, ["ResolveError: cannot resolve math:sqrtt: module 'math' has no attribute 'sqrtt'"]);
  assert.equal(error.message, error.traceback[0]);
  await client.close();
});

test("a protocol error is a RemoteError too", async () => {
  const client = await connect(server.url, { WebSocket });
  const error = await rejection(client.call("no such command"));
  assert.equal(error.type, "CommandError");
  assert.match(error.remoteMessage, /no such command/);
  assert.equal(error.traceback.length, 1);
  await client.close();
});

test("concurrent calls each get their own reply", async () => {
  const client = await connect(server.url, { WebSocket });
  const values = Array.from({ length: 200 }, (_, index) => `value ${index}`);
  const replies = await Promise.all(values.map((value) => client.run("builtins:str.upper", [value])));
  assert.deepEqual(replies, values.map((value) => value.toUpperCase()));
  await client.close();
});

test("a call times out and a late reply does not confuse the next one", async () => {
  const client = await connect(server.url, { WebSocket, timeout: 200 });
  await assert.rejects(client.run("time:sleep", [0.5]), { name: "TimeoutError", message: /^no reply to run within 200 ms from ws:/ });
  client.timeout = 10000;
  assert.equal(await client.run("builtins:abs", [-7]), 7);
  await client.close();
});

test("each call's promise carries its request id", async () => {
  const client = await connect(server.url, { WebSocket });
  const first = client.ping();
  const second = client.ping();
  assert.equal(second.id, first.id + 1);
  await Promise.all([first, second]);
  await client.close();
});

test("pushed messages reach the handlers of their tag, then the catch-all, before the reply", async () => {
  const client = await connect(server.url, { WebSocket });
  const seen = [];
  client.on("*", (message) => seen.push(["*", message]));
  const stopAlerts = client.on("alert", (message) => seen.push(["alert", message]));
  client.on("other", (message) => seen.push(["other", message]));
  const alert = { tag: "alert", message: { code: 4115, msg: "frame rate" } };
  await client.run("liaison.send", [alert]);
  assert.deepEqual(seen, [["alert", alert], ["*", alert]]);

  stopAlerts();
  await client.run("liaison.send", [alert]);
  assert.deepEqual(seen.slice(2), [["*", alert]]);
  // Untagged messages, and any JSON value, go to the catch-all alone.
  await client.run("liaison.send", [[1, 2]]);
  await client.run("liaison.send", ["text"]);
  assert.deepEqual(seen.slice(3), [["*", [1, 2]], ["*", "text"]]);
  await client.close();
});

test("a push reaches every client, and a failing handler does not stop the others or the client", async () => {
  const sender = await connect(server.url, { WebSocket });
  const listener = await connect(server.url, { WebSocket });
  const heard = new Promise((resolve) => listener.on("progress", resolve));
  // Its reply shows the server has taken it on (it may count a connection a moment after the handshake).
  await listener.ping();
  const errors = [];
  const saved = console.error;
  console.error = (...args) => errors.push(args);
  try {
    sender.on("progress", () => { throw new Error("handler broke"); });
    const after = [];
    sender.on("progress", (message) => after.push(message));
    await sender.run("liaison.send", [{ tag: "progress", done: 0.5 }]);
    assert.deepEqual(after, [{ tag: "progress", done: 0.5 }]);
    assert.match(String(errors[0]), /a handler failed/);
  } finally {
    console.error = saved;
  }
  assert.deepEqual(await heard, { tag: "progress", done: 0.5 });
  assert.equal(await sender.ping(), "pong");
  await Promise.all([sender.close(), listener.close()]);
});

test("calls after the connection ended reject", async () => {
  const client = await connect(server.url, { WebSocket });
  await client.close();
  await assert.rejects(client.ping(), /closed the connection \(code 1000/);
});

test("connect without any WebSocket says what to pass", async () => {
  const saved = globalThis.WebSocket;
  delete globalThis.WebSocket;
  try {
    await assert.rejects(connect(server.url), /pass one as \{WebSocket\}/);
    // spawn says so before it starts any Python.
    await assert.rejects(spawn({ python: "/nonexistent/python" }), /pass one as \{WebSocket\}/);
  } finally {
    if (saved) globalThis.WebSocket = saved;
  }
});

test("the token goes in the URL", async () => {
  const client = await connect(server.url, { WebSocket, token: "s3cret/+ =" });
  assert.equal(new URL(client.socket.url).search, "?token=s3cret%2F%2B%20%3D");
  assert.equal(client.url, server.url);
  assert.equal(await client.ping(), "pong");
  await client.close();
  // Messages never show it.
  await assert.rejects(connect("127.0.0.1:1", { WebSocket, token: "s3cret" }),
    { message: "nothing is listening at ws://127.0.0.1:1/: is the server started, at this address?" });
});

test("spawn starts a server and close stops it", async () => {
  const client = await spawn({ WebSocket });
  assert.match(client.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(client.transport, "websocket");
  assert.equal(await client.run("os:getpid"), client.process.pid);
  await client.close();
  assert.equal(client.process.exitCode, 0);
});

test("a spawned server's output never fills a pipe: 64 KiB and more on stdout and stderr", async () => {
  const client = await spawn({ WebSocket });
  const stderrClosed = new Promise((resolve) => client.process.stderr.once("close", resolve));
  const shown = [];
  const write = process.stderr.write;
  process.stderr.write = (text) => shown.push(String(text)) > 0;
  try {
    // Served code may print (to stdout, or to stderr once liaison keeps stdout private) or write to stderr;
    // 200 KB is more than any pipe holds.
    await client.run("builtins:print", ["x".repeat(200000)]);
    await client.run("sys:stderr.write", ["y".repeat(200000)]);
    await client.run("sys:stderr.flush");
    assert.equal(await client.ping(), "pong");
    await client.close();
    await stderrClosed;
  } finally {
    process.stderr.write = write;
  }
  assert.equal(client.process.exitCode, 0);
  // stderr is passed through to ours.
  assert.ok(shown.join("").includes("y".repeat(200000)));
});

test("spawn hands its token to the server, which then refuses clients without it", async () => {
  const client = await spawn({ WebSocket, token: "per-launch secret" });
  try {
    assert.equal(await client.ping(), "pong");
    await assert.rejects(connect(client.url, { WebSocket }), /wants a token \(HTTP 401\)/);
    await (await connect(client.url, { WebSocket, token: "per-launch secret" })).close();
  } finally {
    await client.close();
  }
  assert.equal(client.process.exitCode, 0);
});

test("spawn reports a server that exits before listening, with its stderr", async () => {
  await assert.rejects(spawn({ WebSocket, address: "nowhere" }),
    /exited with 2 before listening; its stderr: [^]*'nowhere' is not an address/);
});

test("spawn times out on a silent server, quoting its stderr", async () => {
  const directory = await mkdtemp(join(tmpdir(), "liaison-"));
  const python = await fakePython(directory, "python", "echo warming up >&2\nexec sleep 60");
  try {
    await assert.rejects(spawn({ WebSocket, python, timeout: 1000 }),
      { name: "TimeoutError", message: /wrote no start marker within 1000 ms; its stderr: warming up/ });
  } finally {
    await rm(directory, { recursive: true });
  }
});

test("an upstream liaison-py error reply (traceback chunks, no exception object) gives the same RemoteError", async () => {
  // liaison-py 1.0.1 sends traceback.format_exception's chunks: several lines in one item, each ending in "\n".
  const upstream = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  upstream.on("connection", (socket) => socket.on("message", (data) => {
    const request = JSON.parse(data);
    socket.send(JSON.stringify({
      error: [
        "Traceback (most recent call last):\n",
        '  File "/site-packages/liaison/websocket/websocket.py", line 78, in process_messages\n    \'response\': self.process_command(message[\'command\']),\n',
        '  File "/app/psychopy/experiment.py", line 12, in load\n    raise exceptions.MissingFile("no such file:\\n  exp.psyexp")\n',
        "psychopy.exceptions.MissingFile: no such file:\n  exp.psyexp\n",
      ],
      tag: "error",
      evt: request,
    }));
  }));
  await new Promise((resolve) => upstream.once("listening", resolve));
  try {
    const client = await connect(`127.0.0.1:${upstream.address().port}`, { WebSocket });
    const error = await rejection(client.run("experiment.load"));
    assert.equal(error.type, "MissingFile");
    assert.equal(error.remoteMessage, "no such file:\n  exp.psyexp");
    assert.deepEqual(error.traceback.slice(-4), [
      '  File "/app/psychopy/experiment.py", line 12, in load',
      '    raise exceptions.MissingFile("no such file:\\n  exp.psyexp")',
      "psychopy.exceptions.MissingFile: no such file:",
      "  exp.psyexp",
    ]);
    await client.close();
  } finally {
    upstream.close();
  }
});

test("an upstream chained error reply is read from its last exception", async () => {
  const upstream = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  upstream.on("connection", (socket) => socket.on("message", (data) => {
    socket.send(JSON.stringify({
      error: [
        "Traceback (most recent call last):\n",
        '  File "/app/psychopy/experiment.py", line 12, in load\n    raise exceptions.MissingFile("exp.psyexp")\n',
        "psychopy.exceptions.MissingFile: exp.psyexp\n",
        "\nThe above exception was the direct cause of the following exception:\n\n",
        "RuntimeError: could not load: the file\n    exp.psyexp\n",
      ],
      tag: "error",
      evt: JSON.parse(data),
    }));
  }));
  await new Promise((resolve) => upstream.once("listening", resolve));
  try {
    const client = await connect(`127.0.0.1:${upstream.address().port}`, { WebSocket });
    const error = await rejection(client.run("experiment.load"));
    assert.equal(error.type, "RuntimeError");
    assert.equal(error.remoteMessage, "could not load: the file\n    exp.psyexp");
    await client.close();
  } finally {
    upstream.close();
  }
});

test("liaison.d.ts declares every export of liaison.js", async () => {
  const declarations = await readFile(new URL("../liaison.d.ts", import.meta.url), "utf8");
  const declared = [...declarations.matchAll(/^export declare (?:const|class|function) (\w+)/gm)].map((match) => match[1]);
  assert.deepEqual(declared.sort(), Object.keys(liaison).sort());
});
