// Why a connection failed, as connect() says it, against real `python -m liaison.websocket` servers
// (python3 on PATH must have liaison installed). Node 20 has no global WebSocket: the ws package's is passed in,
// and a WebSocket that tells nothing of its failure, as the platform's in Node 22, gets the same messages.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { WebSocket } from "ws";

import { connect, spawn } from "liaison-client";

/** A WebSocket that says nothing of why it failed (an "error" event, then "close" 1006), as browsers' and Node 22's. */
class SilentWebSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = new WebSocket(url);
    this.socket.on("error", () => {
      this.dispatchEvent(new Event("error"));
      this.dispatchEvent(Object.assign(new Event("close"), { code: 1006, reason: "" }));
    });
    this.socket.on("open", () => this.dispatchEvent(new Event("open")));
    this.socket.on("message", (data) => this.dispatchEvent(Object.assign(new Event("message"), { data: String(data) })));
    this.socket.on("close", (code, reason) => this.dispatchEvent(Object.assign(new Event("close"), { code, reason: String(reason) })));
  }

  set binaryType(type) { this.socket.binaryType = type; }
  send(text) { this.socket.send(text); }
  close(code, reason) { this.socket.close(code, reason); }
}

let guarded;

before(async () => {
  guarded = await spawn({ WebSocket, token: "right" });
});

after(async () => {
  await guarded.close();
});

/** A loopback port nothing listens on: it was free a moment ago. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

for (const [name, WebSocketClass] of [["ws", WebSocket], ["a WebSocket that tells nothing", SilentWebSocket]]) {
  test(`each refusal has its own message, naming the address and what to do (${name})`, async () => {
    const url = guarded.url;
    await assert.rejects(connect(url, { WebSocket: WebSocketClass }), {
      message: `${url} wants a token (HTTP 401): pass the one the server was started with (its LIAISON_TOKEN or --token) as {token}`,
    });
    await assert.rejects(connect(url, { WebSocket: WebSocketClass, token: "wrong" }), {
      message: `${url} refused the token (HTTP 401): pass the one the server was started with (its LIAISON_TOKEN or --token)`,
    });
    // The Host check (against DNS rebinding) refuses a name that is not this machine's; 0.0.0.0 reaches it on Linux.
    const elsewhere = url.replace("127.0.0.1", "0.0.0.0");
    await assert.rejects(connect(elsewhere, { WebSocket: WebSocketClass, token: "right" }), {
      message: `${elsewhere} refused the host name 0.0.0.0 (HTTP 403, against DNS rebinding): connect to localhost, ` +
        "127.0.0.1 or the address the server was started on",
    });
    const port = await freePort();
    await assert.rejects(connect(`127.0.0.1:${port}`, { WebSocket: WebSocketClass }), {
      message: `nothing is listening at ws://127.0.0.1:${port}/: is the server started, at this address?`,
    });
  });

  test(`a full server says so (${name})`, async () => {
    // The spawned client holds the one connection it takes.
    const full = await spawn({ WebSocket, maxClients: 1 });
    try {
      await assert.rejects(connect(full.url, { WebSocket: WebSocketClass }), {
        message: `${full.url} is full (HTTP 503): it has as many clients as its --max-clients allows; close another ` +
          "client, or start the server with a higher --max-clients",
      });
    } finally {
      await full.close();
    }
  });
}

test("an address without a port is refused, not taken as port 80", async () => {
  for (const address of ["localhost", "ws://localhost", "ws://localhost/", "[::1]", "127.0.0.1:"]) {
    await assert.rejects(connect(address, { WebSocket }), {
      name: "TypeError",
      message: `${JSON.stringify(address)} has no port: give HOST:PORT, for example localhost:8001 (the server's default), ` +
        "or the port its start marker shows",
    });
  }
  await assert.rejects(connect("ws://local host:1", { WebSocket }), { name: "TypeError", message: /is not an address/ });
});
