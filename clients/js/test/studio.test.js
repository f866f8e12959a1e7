// PsychoPy Studio's frontend, as it talks to `python -m liaison.websocket` (python3 on PATH must have liaison):
// one message listener per request that reads `evt.id` of every frame without a guard. A frame that is not a
// reply (a pushed alert) arriving while such a listener waits throws, and Electron shows an error box.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn as spawnProcess } from "node:child_process";
import { WebSocket } from "ws";

import { spawn } from "liaison-client";

/** What psychopy.alerts pushes while a command runs, through the liaison's send. */
const ALERT = { type: "alert", code: 4115, msg: "frame rate is low" };

/** A command that pushes the alert to its caller, then idles before it returns. */
const PUSH_THEN_IDLE = "import time\nliaison.send(alert, client=liaison.current_client())\ntime.sleep(0.3)";

/** Start `python -m liaison.websocket` on a free port; resolve to [process, port] once it listens. */
function startServer() {
  const child = spawnProcess("python3", ["-m", "liaison.websocket", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout.once("data", (chunk) => {
      const port = /^LIAISON:CONNECTED@127\.0\.0\.1:(\d+)$/.exec(chunk.toString());
      if (port) resolve([child, Number(port[1])]);
      else reject(new Error(`no start marker: ${chunk}`));
    });
  });
}

/** Studio's request: one listener per request, matching the reply by `JSON.parse(evt.data).evt.id` unguarded. */
function studioRequest(ws, id, command, args) {
  return new Promise((resolve) => {
    const listener = (event) => {
      const data = JSON.parse(event.data);
      if (data.evt.id === id) {
        ws.removeEventListener("message", listener);
        resolve(data);
      }
    };
    ws.addEventListener("message", listener);
    ws.send(JSON.stringify({ command: { command, args }, id }));
  });
}

test("Studio's unguarded listeners get a command's pushed alert after its reply, and throw nothing", async () => {
  const [child, port] = await startServer();
  const thrown = [];
  const record = (error) => thrown.push(error);
  process.on("uncaughtException", record);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
    const arrived = [];
    ws.addEventListener("message", (event) => arrived.push(JSON.parse(event.data)));
    await studioRequest(ws, "1", "store", ["alert", ALERT]);
    const reply = await studioRequest(ws, "2", "run", ["builtins:exec", PUSH_THEN_IDLE, { liaison: "$liaison", alert: "$alert" }]);
    assert.equal(reply.tag, "response");
    // The frontend idles; the alert comes now, after the reply, when no listener waits.
    while (arrived.length < 3) await new Promise((resolve) => ws.addEventListener("message", resolve, { once: true }));
    assert.deepEqual(arrived.map((message) => message.evt?.id ?? message.type), ["1", "2", "alert"]);
    assert.deepEqual(arrived[2], ALERT);
    ws.close();
    await new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
  } finally {
    process.removeListener("uncaughtException", record);
    child.kill();
  }
  assert.deepEqual(thrown, []);
});

test("the project's own client says hello with interleave: the pushed alert reaches its handler before the reply", async () => {
  const client = await spawn({ WebSocket });
  try {
    const order = [];
    client.on("*", (message) => order.push(message));
    await client.store("alert", ALERT);
    await client.run("builtins:exec", [PUSH_THEN_IDLE, { liaison: "$liaison", alert: "$alert" }]);
    order.push("reply");
    assert.deepEqual(order, [ALERT, "reply"]);
  } finally {
    await client.close();
  }
});
