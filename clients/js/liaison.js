// A client for liaison-backend: connect() to a running liaison, or spawn() one from Node or Electron.
// No dependency: it uses the platform's WebSocket (browsers, Electron, Node 22+), or one passed in.

/** Milliseconds to wait for a connection, a reply, or a spawned server's start marker. */
export const DEFAULT_TIMEOUT = 30000;

/** Most of a spawned server's stderr quoted in an error, in characters. */
const STDERR_QUOTE = 4000;

/** The remote liaison answered with an error: its exception type name, message and traceback lines. */
export class RemoteError extends Error {
  constructor({ type, message, traceback }) {
    super(`${type}: ${message}`);
    this.name = "RemoteError";
    this.type = type;
    this.remoteMessage = message;
    this.traceback = traceback;
  }
}

/** An Error named like Python's TimeoutError, for calls, connections and start-up that take too long. */
function timeoutError(message) {
  const error = new Error(message);
  error.name = "TimeoutError";
  return error;
}

/** The URL of `address` (`ws://host:port/...` or `host:port`) without any token, as messages show it. */
function shownUrl(address) {
  const url = new URL(address.includes("://") ? address : `ws://${address}`);
  url.searchParams.delete("token");
  return url.href;
}

/** A connection to a liaison with one Promise-returning method per command. */
export class Client {
  /** Use connect() or spawn(); `socket` is an open WebSocket. */
  constructor(socket, { timeout = DEFAULT_TIMEOUT, onEvent } = {}) {
    this.socket = socket;
    this.url = shownUrl(socket.url);
    this.timeout = timeout;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set(onEvent ? [onEvent] : []);
    this.ended = null;
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        this.end(`${this.url} closed the connection (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`);
        resolve(event.code);
      });
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
  }

  get(target) { return this.call("get", [target]); }
  exists(target) { return this.call("exists", [target]); }
  init(name, cls, args = [], kwargs = {}) { return this.call("init", [name, cls, ...args], kwargs); }
  run(fcn, args = [], kwargs = {}) { return this.call("run", [fcn, ...args], kwargs); }
  try(fcn, args = [], kwargs = {}) { return this.call("try", [fcn, ...args], kwargs); }
  register(name, target) { return this.call("register", [name, target]); }
  store(name, value) { return this.call("store", [name, value]); }
  ping() { return this.call("ping"); }

  /** Send `command` and resolve to its response; reject with RemoteError, a TimeoutError or a lost connection. */
  call(command, args = [], kwargs = {}) {
    if (this.ended !== null) return Promise.reject(new Error(this.ended));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(timeoutError(`no reply to ${command} within ${this.timeout} ms from ${this.url}`));
      }, this.timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ command: { command, args, kwargs }, id }));
    });
  }

  /** Call `listener(data)` for every event the server pushes; returns a function that stops it. */
  onEvent(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Route one message: events to the listeners, replies to the call waiting on their id. */
  receive(data) {
    const message = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    if (message.tag === "event") {
      for (const listener of this.listeners) {
        try {
          listener(message.event);
        } catch (error) {
          console.error("liaison: an event listener failed:", error);
        }
      }
      return;
    }
    const waiting = this.pending.get(message.evt?.id);
    if (!waiting) {
      console.warn(`liaison: a reply from ${this.url} matches no waiting call:`, message);
      return;
    }
    this.pending.delete(message.evt.id);
    clearTimeout(waiting.timer);
    if (message.tag === "error") waiting.reject(new RemoteError(message.error));
    else waiting.resolve(message.response);
  }

  /** Reject every waiting call: the connection has ended. */
  end(reason) {
    this.ended = reason;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error(reason));
    }
    this.pending.clear();
  }

  /** Close the connection; resolves once it is closed. */
  close() {
    this.socket.close(1000);
    return this.closed;
  }
}

/** Open a WebSocket to `address` and resolve to it once open, or reject after `timeout` ms. */
function openSocket(address, { token, timeout, WebSocket = globalThis.WebSocket }) {
  if (!WebSocket) {
    return Promise.reject(new Error("this platform has no WebSocket: pass one as {WebSocket} (the ws package on Node before 22)"));
  }
  const url = shownUrl(address);
  // Browsers cannot set headers, so the token goes in the query, percent-encoded: the server reads "+" as "+".
  const withToken = new URL(url);
  if (token != null) withToken.search += `${withToken.search ? "&" : "?"}token=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(withToken.href);
    socket.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      socket.close();
      reject(timeoutError(`could not connect to ${url} within ${timeout} ms`));
    }, timeout);
    const failed = () => {
      clearTimeout(timer);
      reject(new Error(`could not connect to ${url}`));
    };
    socket.addEventListener("error", failed);
    socket.addEventListener("open", () => {
      clearTimeout(timer);
      socket.removeEventListener("error", failed);
      resolve(socket);
    });
  });
}

/**
 * Connect to the liaison at `address` (`ws://host:port` or `host:port`); resolves to a Client once open.
 * Options: `token`, `timeout` (ms), `onEvent(data)`, and `WebSocket` where the platform has none
 * (Node before 22: the `ws` package).
 */
export async function connect(address, { token, timeout = DEFAULT_TIMEOUT, onEvent, WebSocket } = {}) {
  return new Client(await openSocket(address, { token, timeout, WebSocket }), { timeout, onEvent });
}

/** A Client of a server it started; close() also stops that server. */
export class SpawnedClient extends Client {
  constructor(socket, process, options) {
    super(socket, options);
    this.process = process;
    this.exited = new Promise((resolve) => {
      if (process.exitCode !== null || process.signalCode !== null) resolve();
      else process.once("exit", resolve);
    });
  }

  /** Stop the server (`run liaison.stop`), wait for it to exit, and close the connection. */
  async close() {
    try {
      await this.run("liaison.stop");
    } catch (error) {
      console.warn(`liaison: could not stop the server at ${this.url} by command (${error.message}); terminating it`);
      this.process.kill();
    }
    await super.close();
    const killer = setTimeout(() => this.process.kill("SIGKILL"), this.timeout);
    await this.exited;
    clearTimeout(killer);
  }
}

/** Run `python -m liaison.constants` and resolve to its markers. */
function markers(python, childProcess) {
  return new Promise((resolve, reject) => {
    childProcess.execFile(python, ["-m", "liaison.constants"], (error, stdout, stderr) => {
      if (error) reject(new Error(`${python} -m liaison.constants failed: ${stderr.trim() || error.message}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

/** Resolve to the address in `child`'s start marker; reject if it exits, fails to start, or stays silent. */
function startedAddress(child, startMarker, command, timeout, stderrSoFar) {
  return new Promise((resolve, reject) => {
    const settle = (outcome, value) => {
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.off("close", onClose);
      child.off("error", onError);
      outcome(value);
    };
    const timer = setTimeout(() => settle(reject, timeoutError(
      `${command} wrote no start marker within ${timeout} ms; its stderr: ${stderrSoFar()}`)), timeout);
    const onData = (text) => {
      if (text.startsWith(`${startMarker}@`)) settle(resolve, text.slice(startMarker.length + 1));
      else settle(reject, new Error(`${command} wrote ${JSON.stringify(text.slice(0, 200))} instead of its start marker; its stderr: ${stderrSoFar()}`));
    };
    // "close" comes after the exit and the last of stderr, so the quote is complete.
    const onClose = (code, signal) => settle(reject, new Error(
      `${command} exited with ${code ?? signal} before listening; its stderr: ${stderrSoFar()}`));
    const onError = (error) => settle(reject, new Error(`cannot start ${command}: ${error.message}`));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", onData);
    child.once("close", onClose);
    child.once("error", onError);
  });
}

/**
 * Node and Electron: start `python -m liaison.websocket address`, wait for its start marker, and connect.
 * Resolves to a SpawnedClient whose close() stops the server. Options as connect(), plus `python`
 * (default python3, or python on Windows) and `address` (default 127.0.0.1:0, a free port); a token
 * is also handed to the server in LIAISON_TOKEN. Rejects, quoting the server's stderr, if it exits
 * or stays silent past the timeout.
 */
export async function spawn({
  python = globalThis.process?.platform === "win32" ? "python" : "python3",
  address = "127.0.0.1:0",
  token,
  timeout = DEFAULT_TIMEOUT,
  onEvent,
  WebSocket,
} = {}) {
  const childProcess = await import("node:child_process");
  const { START_MARKER } = await markers(python, childProcess);
  const env = { ...process.env };
  if (token != null) env.LIAISON_TOKEN = token;
  const command = `${python} -m liaison.websocket ${address}`;
  const child = childProcess.spawn(python, ["-m", "liaison.websocket", address], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text) => { stderr = (stderr + text).slice(-STDERR_QUOTE); });
  try {
    const started = await startedAddress(child, START_MARKER, command, timeout, () => stderr.trim() || "(nothing)");
    const socket = await openSocket(started, { token, timeout, WebSocket });
    return new SpawnedClient(socket, child, { timeout, onEvent });
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}
