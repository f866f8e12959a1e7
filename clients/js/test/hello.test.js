// The hello handshake, the limits it tells, and error replies whose evt is null: against stand-in servers that
// answer as the protocol says (the ws package's server), and against real ones (python3 on PATH must have liaison).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket, WebSocketServer } from "ws";

import { FEATURES, RemoteError, connect, spawn } from "liaison-client";

/** The hello answer of a server that enabled interleave, with a small max_size. */
const HELLO = {
  protocol: 2, server: "liaison-backend", version: "9.9", features: ["interleave"], available: ["interleave", "output"],
  limits: { max_size: 1000, max_depth: 100, max_int_digits: 4300, send_timeout: 10 },
};

/** A reply to `request` as a liaison server makes it. */
const response = (request, value) => ({ response: value, tag: "response", evt: request });
const failure = (evt, type, message) => ({ error: [`${type}: ${message}`], exception: { type, message }, tag: "error", evt });

/**
 * Run `body(url, received)` with a stand-in server on a free port: `answer(request, send)` handles each request
 * (parsed) it gets; `received` lists them all.
 */
async function withStandIn(answer, body) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  const received = [];
  server.on("connection", (socket) => socket.on("message", (data) => {
    const request = JSON.parse(data);
    received.push(request);
    answer(request, (reply) => socket.send(JSON.stringify(reply)));
  }));
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    return await body(`127.0.0.1:${server.address().port}`, received);
  } finally {
    for (const socket of server.clients) socket.terminate();
    server.close();
  }
}

/** An array nested `levels` deep around 0. */
function nested(levels) {
  let value = 0;
  for (let level = 0; level < levels; level++) value = [value];
  return value;
}

test("a client sends hello with its features first, and keeps the answer and its limits", async () => {
  const answer = (request, send) => send(response(request, request.command.command === "hello" ? HELLO : "ok"));
  await withStandIn(answer, async (address, received) => {
    const client = await connect(address, { WebSocket });
    assert.deepEqual(received, [{ command: { command: "hello", args: [], kwargs: { features: ["interleave"] } }, id: 1 }]);
    assert.deepEqual(FEATURES, ["interleave"]);
    assert.deepEqual(client.hello, HELLO);

    // Over the server's limits: refused at once, and nothing is sent.
    await assert.rejects(client.run("builtins:len", ["é".repeat(500)]), {
      name: "RangeError", message: /^cannot send run: the request is 10\d\d bytes, more than the 1000 the server takes \(its --max-size\)$/,
    });
    // The request's outer object, its command, the args array: an argument may nest 97 levels.
    await assert.rejects(client.run("builtins:len", [nested(98)]), {
      name: "RangeError", message: /^cannot send run: it nests arrays and objects more than the 100 levels the server takes/,
    });
    assert.equal(received.length, 1);
    assert.equal(await client.run("builtins:len", [nested(97)]), "ok");
    // Brackets inside strings do not nest.
    assert.equal(await client.run("builtins:len", ["[".repeat(200)]), "ok");
    await client.close();
  });
});

test("a server without hello (an error reply, or liaison-py's null) leaves hello null and the default limits", async () => {
  const answers = {
    "an error": (request, send) => send(request.command.command === "hello"
      ? failure(request, "CommandError", "unknown command 'hello'") : response(request, "ok")),
    "liaison-py's null": (request, send) => send(response(request, request.command.command === "hello" ? null : "ok")),
  };
  for (const [name, answer] of Object.entries(answers)) {
    await withStandIn(answer, async (address) => {
      const client = await connect(address, { WebSocket });
      assert.equal(client.hello, null, name);
      assert.equal(await client.run("builtins:len", ["x".repeat(5000)]), "ok");
      await assert.rejects(client.run("builtins:len", [nested(98)]), { name: "RangeError" });
      await client.close();
    });
  }
});

test("an error reply whose evt is null fails the oldest unanswered call that is not urgent", async () => {
  // Answers urgent requests at once and the others in order, the first of them as a request it could not read.
  const waiting = [];
  const answer = (request, send) => {
    const { command } = request.command;
    if (command === "hello") send(response(request, HELLO));
    else if (command === "ping") send(response(request, "pong"));
    else waiting.push(request);
    if (waiting.length === 2) {
      send(failure(null, "ProtocolError", "message is not valid JSON"));
      send(response(waiting[1], "second"));
    }
  };
  await withStandIn(answer, async (address) => {
    const client = await connect(address, { WebSocket });
    const first = client.run("first", [], {}, { timeout: 5000 });
    const ping = client.ping({ timeout: 5000 });
    const second = client.run("second", [], {}, { timeout: 5000 });
    const error = await first.then(() => null, (problem) => problem);
    assert.ok(error instanceof RemoteError);
    assert.equal(error.message, "ProtocolError: message is not valid JSON");
    assert.equal(await ping, "pong");
    assert.equal(await second, "second");
    await client.close();
  });
});

test("a request over a real stdio server's max size fails at once, whether the server has hello or not", async () => {
  const client = await spawn({ transport: "stdio", maxSize: 1000 });
  try {
    // With hello the client refuses it; without, the server answers with evt null, which fails this call.
    const error = await client.run("builtins:len", ["x".repeat(2000)], {}, { timeout: 10000 }).then(() => null, (problem) => problem);
    assert.ok(error instanceof RangeError || (error instanceof RemoteError && error.type === "ProtocolError"), String(error));
    assert.equal(await client.run("builtins:len", ["x".repeat(10)]), 10);
  } finally {
    await client.close();
  }
});


test("a real server answers hello, enabling interleave", async () => {
  for (const transport of ["websocket", "stdio"]) {
    const client = await spawn({ transport, WebSocket });
    try {
      assert.equal(client.hello.protocol, 2);
      assert.equal(client.hello.server, "liaison-backend");
      assert.deepEqual(client.hello.features, ["interleave"]);
      assert.ok(client.hello.available.includes("interleave"));
      assert.equal(client.hello.limits.max_depth, 100);
    } finally {
      await client.close();
    }
  }
});

// Servers before hello send such pushes at once too; one with hello holds them until the reply unless asked for interleave.
test("with interleave, a message pushed during a call reaches its handler before the call's reply", async () => {
  for (const transport of ["websocket", "stdio"]) {
    const client = await spawn({ transport, WebSocket });
    try {
      // The call starts a thread that pushes, then loops for 20 s or more, until the handler cancels it.
      await client.init("pusher", "threading:Thread", [], { target: "$liaison.send", args: [{ tag: "made" }] });
      const loop = client.run("timeit:timeit", [], {
        stmt: "pass", setup: "pusher.start()", number: 2000000000, globals: { pusher: "$pusher" },
      }, { timeout: 10000 });
      const seen = [];
      client.on("made", () => {
        seen.push("push");
        client.cancel(loop.id);
      });
      await assert.rejects(loop, { type: "Cancelled" });
      assert.deepEqual(seen, ["push"]);
    } finally {
      await client.close();
    }
  }
});
