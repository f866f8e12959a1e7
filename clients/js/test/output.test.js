// A call's output and progress (onOutput, onProgress) and streamed results (stream(), for await), over both
// transports, against real servers that run the commands of the repository's tests/streamed.py.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";

import { STREAM_WINDOW, RemoteError, spawn } from "liaison-client";
import { checkEveryMessage } from "./schema.js";

checkEveryMessage();

/** The folder of tests/streamed.py, for the servers' PYTHONPATH. */
const TESTS = fileURLToPath(new URL("../../../tests", import.meta.url));

/** Every item of `items`, or what its loop threw: `{given, error}`. */
async function drain(items) {
  const given = [];
  try {
    for await (const item of items) given.push(item);
  } catch (error) {
    return { given, error };
  }
  return { given, error: null };
}

for (const transport of ["websocket", "stdio"]) {
  describe(`over ${transport}`, () => {
    let client;

    beforeEach(async () => {
      client = await spawn({ transport, WebSocket, env: { ...process.env, PYTHONPATH: TESTS }, timeout: 20000 });
    });

    afterEach(async () => {
      await client.close();
    });

    test("onOutput gets the command's stdout, stderr, log records and warnings before the call resolves", async () => {
      const messages = [];
      const pushed = [];
      client.on("*", (message) => pushed.push(message));
      assert.equal(await client.run("streamed:chatter", [], {}, { onOutput: (message) => messages.push(message) }), "done");
      const [{ id }] = messages;
      assert.ok(messages.every((message) => message.tag === "stream" && message.id === id));
      assert.deepEqual(messages.slice(0, 3).map(({ name, text }) => [name, text]),
        [["stdout", "to stdout\n"], ["stderr", "to stderr\n"], ["log", "WARNING streamed: a warning record\n"]]);
      assert.equal(messages[3].name, "warning");
      assert.match(messages[3].text, /UserWarning: careful/);
      assert.equal(messages.length, 4);
      assert.deepEqual(pushed, []);
    });

    test("logLevel lets lower records through, and needs onOutput", async () => {
      const messages = [];
      assert.equal(await client.run("streamed:verbose", [], {}, { onOutput: (message) => messages.push(message), logLevel: "INFO" }), "done");
      assert.deepEqual(messages.map(({ name, text }) => [name, text]), [["log", "INFO streamed: an info record\n"]]);
      await assert.rejects(client.run("streamed:verbose", [], {}, { logLevel: "INFO" }), { name: "TypeError", message: /give onOutput too/ });
    });

    test("onProgress gets the progress, rate-limited, the last before the call resolves", async () => {
      const updates = [];
      assert.equal(await client.run("streamed:steps", [2000], {}, { onProgress: (update) => updates.push(update) }), 2000);
      assert.deepEqual(updates[0], { tag: "progress", id: updates[0].id, done: 1, total: 2000, message: "step 1" });
      assert.equal(updates.at(-1).done, 2000);
      assert.ok(updates.length < 100, `${updates.length} progress messages`);
    });

    test("a stream gives the items in order, each after its output, and waits for the loop to take them", async () => {
      const events = [];
      const items = client.stream("run", ["streamed:counted", 100], {}, {
        window: 4, onOutput: (message) => events.push(["output", message.text]),
      });
      let printed = "";
      for await (const item of items) {
        printed += events.splice(0).map(([, text]) => text).join("");
        assert.ok(printed.includes(`making ${item}\n`), `item ${item} came before its output`);
        if (item === 0) assert.deepEqual(await client.get("streamed:state"), { made: 4, closed: 0 });
        if (item === 2) assert.deepEqual(await client.get("streamed:state"), { made: 6, closed: 0 });
      }
      assert.deepEqual(await client.get("streamed:state"), { made: 100, closed: 1 });
    });

    test("the default window is STREAM_WINDOW, 16", async () => {
      for await (const item of client.stream("run", ["streamed:counted", 100])) {
        assert.equal(item, 0);
        assert.equal((await client.get("streamed:state")).made, STREAM_WINDOW);
        assert.equal(STREAM_WINDOW, 16);
        break;
      }
    });

    test("break cancels the stream, and the generator's finally runs", async () => {
      const given = [];
      for await (const item of client.stream("run", ["streamed:counted", 1000], {}, { window: 8 })) {
        given.push(item);
        if (item === 2) break;
      }
      assert.deepEqual(given, [0, 1, 2]);
      const state = await client.get("streamed:state");
      assert.equal(state.closed, 1);
      assert.ok(state.made >= 3 && state.made <= 8, `made ${state.made}: never more than the window`);
      assert.equal(await client.run("math:sqrt", [4]), 2);
    });

    test("aborting the signal cancels the stream: the loop throws the Cancelled error", async () => {
      const controller = new AbortController();
      const items = client.stream("run", ["streamed:counted", 1000], {}, { window: 2, signal: controller.signal });
      const { given, error } = await drain((async function* () {
        for await (const item of items) {
          if (item === 0) controller.abort();
          yield item;
        }
      })());
      assert.ok(error instanceof RemoteError && error.type === "Cancelled", String(error));
      assert.deepEqual(given, [0]);
      assert.equal((await client.get("streamed:state")).closed, 1);
    });

    test("the timeout bounds each wait for an item, not the whole stream", async () => {
      // 40 items 0.05 s apart take about 2 s, twice the timeout.
      const whole = await drain(client.stream("run", ["streamed:counted", 40, 0.05], {}, { timeout: 1000 }));
      assert.deepEqual(whole, { given: [...Array(40).keys()], error: null });
      const { given, error } = await drain(client.stream("run", ["streamed:stalling", 2], {}, { timeout: 500 }));
      assert.deepEqual(given, [0, 1]);
      assert.equal(error.name, "TimeoutError");
      assert.match(error.message, /^no item or reply of run within 500 ms from .*; cancelled it$/);
      assert.equal(error.cause.type, "Cancelled");
      assert.equal((await client.get("streamed:state")).closed, 2);
    });

    test("an error in the generator comes after the items before it", async () => {
      const { given, error } = await drain(client.stream("run", ["streamed:failing", 3]));
      assert.deepEqual(given, [0, 1, 2]);
      assert.ok(error instanceof RemoteError);
      assert.equal(error.message, "ValueError: broke after 3 items");
    });

    test("an array result gives its items; anything else, and a bad window, is an error", async () => {
      assert.deepEqual(await drain(client.stream("run", ["builtins:list", "abc"])), { given: ["a", "b", "c"], error: null });
      assert.deepEqual(await drain(client.stream("run", ["builtins:iter", []])), { given: [], error: null });
      const { error } = await drain(client.stream("run", ["builtins:len", "abc"]));
      assert.equal(error.name, "TypeError");
      assert.equal(error.message, "run returned number, not an iterator or an array: use call() for it");
      assert.throws(() => client.stream("run", ["builtins:iter", []], {}, { window: 0 }),
        { name: "RangeError", message: "window must be a whole number of items from 1 to 1024, not 0" });
    });

    test("a stream's progress reaches its onProgress", async () => {
      const updates = [];
      const { given } = await drain(client.stream("run", ["streamed:progressing", 30], {}, { onProgress: (update) => updates.push(update) }));
      assert.deepEqual(given, [...Array(30).keys()]);
      assert.deepEqual([updates[0].done, updates.at(-1).done, updates.at(-1).total], [1, 30, 30]);
    });

    test("closing the client cancels its open streams, whose loops throw", async () => {
      const items = client.stream("run", ["itertools:count"])[Symbol.asyncIterator]();
      assert.deepEqual(await items.next(), { value: 0, done: false });
      const closing = client.close();
      await assert.rejects(drain(items).then(({ error }) => { throw error; }), /closed|stopped/);
      await closing;
      assert.equal(client.process.exitCode, 0);
    });

    test("messages that only look like a call's go to the push handlers", async () => {
      const pushed = [];
      const progress = [];
      client.on("*", (message) => pushed.push(message));
      client.on("progress", (message) => progress.push(message));
      const lookAlike = { tag: "progress", id: 99999, done: 1, total: null, message: null };
      assert.equal(await client.run("liaison.send", [lookAlike], {}, { onProgress: (update) => progress.push(update) }), 1);
      assert.equal(await client.run("liaison.send", [{ tag: "progress", done: 0.5 }]), 1);
      const items = client.stream("run", ["streamed:counted", 3], {}, { window: 1 })[Symbol.asyncIterator]();
      const listed = { tag: ["item"], id: client.nextId, item: "not an item" };  // the id the stream is about to take
      assert.deepEqual(await items.next(), { value: 0, done: false });
      assert.equal(await client.run("liaison.send", [listed]), 1);
      assert.deepEqual((await drain(items)).given, [1, 2]);
      assert.deepEqual(progress, [lookAlike, { tag: "progress", done: 0.5 }]);
      assert.deepEqual(pushed, [lookAlike, { tag: "progress", done: 0.5 }, listed]);
    });
  });
}
