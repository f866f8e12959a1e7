// A client for liaison-backend: connect() to a running liaison, or spawn() one from Node or Electron
// and talk to it over a websocket or over the child's stdin and stdout.
// No dependency: websockets use the platform's WebSocket (browsers, Electron, Node 22+), or one passed in.

/** Milliseconds to wait for a connection, a reply, or a spawned server's start marker. */
export const DEFAULT_TIMEOUT = 30000;

/** Milliseconds a timed-out or aborted call waits, after sending `cancel`, for the server to end it. */
export const CANCEL_GRACE = 1000;

/** Most of a spawned server's stderr quoted in an error, in characters. */
const STDERR_QUOTE = 4000;

/** What a server writes to stdout once it listens and once it stops (liaison/constants.py), before `@ADDRESS`. */
const START_MARKER = "LIAISON:CONNECTED";
const STOP_MARKER = "LIAISON:DISCONNECTED";

/** The features this client asks for in `hello`: "interleave", pushed messages as they are made, even during its calls. */
export const FEATURES = Object.freeze(["interleave"]);

/** Commands a server answers at once, out of turn: every other request is answered in the order it was sent. */
const URGENT = new Set(["ping", "cancel", "hello", "more"]);

/** Items of a streamed result the server sends ahead of those read, unless stream() is told otherwise. */
export const STREAM_WINDOW = 16;

/** The largest window a server takes. */
const MAX_WINDOW = 1024;

/** Messages a server sends for one request, before its reply, by tag: the callback of the call each goes to. */
const CALL_MESSAGES = { stream: "onOutput", progress: "onProgress", item: "onItem" };

/** The server's limits on a request, as a server without `hello` has them (liaison.protocol). */
const DEFAULT_LIMITS = Object.freeze({ max_depth: 100 });

/** The remote liaison answered with an error: its exception type name, message and traceback lines. */
export class RemoteError extends Error {
  constructor({ type, message, traceback = [] }) {
    super(message ? `${type}: ${message}` : type);
    this.name = "RemoteError";
    this.type = type;
    this.remoteMessage = message;
    this.traceback = traceback;
  }
}

/**
 * The RemoteError an error reply stands for. Type and message come from its `exception`; an
 * upstream liaison-py server sends only the traceback, so they are read from its end.
 */
function remoteError(reply) {
  const traceback = tracebackLines(reply.error);
  if (reply.exception !== null && typeof reply.exception === "object") {
    return new RemoteError({ type: reply.exception.type, message: reply.exception.message, traceback });
  }
  const text = traceback.slice(exceptionStart(traceback)).join("\n");
  const colon = text.indexOf(": ");
  const type = colon < 0 ? text : text.slice(0, colon);
  return new RemoteError({ type: type.slice(type.lastIndexOf(".") + 1), message: colon < 0 ? "" : text.slice(colon + 2), traceback });
}

/**
 * The traceback in an `error` field as one string per line, whether it came as Python's format_exception
 * items ending in newlines, several lines in some (liaison-py and liaison-backend), or one line per item.
 */
function tracebackLines(error) {
  const items = typeof error === "string" ? [error] : Array.isArray(error) ? error.map(String) : error == null ? [] : [JSON.stringify(error)];
  const text = items.map((item) => (item.endsWith("\n") ? item : `${item}\n`)).join("");
  return text ? text.slice(0, -1).split("\n") : [];
}

/** The lines that join the exceptions of a chain in a traceback, each between two blank lines. */
const CHAIN_LINES = ["The above exception was the direct cause of the following exception:",
  "During handling of the above exception, another exception occurred:"];

/** The index of the first line of a traceback's final "Type: message" part: the line after the last exception's last frame. */
function exceptionStart(lines) {
  const join = lines.findLastIndex((line) => CHAIN_LINES.includes(line));
  const begin = join < 0 ? 0 : join + 2;
  let start = begin;
  for (let index = begin; index < lines.length; index += 1) {
    const line = lines[index];
    if (line.startsWith('  File "') || (start === index && start > begin && line.startsWith("    "))) start = index + 1;
  }
  return start;
}

/** Whether a parsed message is the reply to a request (it echoes the request as `evt`) rather than a push. */
function isReply(message) {
  return message !== null && typeof message === "object" && (message.tag === "response" || message.tag === "error") && "evt" in message;
}

/** The fields of a request that ask the server for a call's output and progress: only for the callbacks given. */
function reportFields(onOutput, onProgress, logLevel) {
  const fields = {};
  if (onOutput) fields.output = logLevel === undefined ? true : { log_level: logLevel };
  else if (logLevel !== undefined) throw new TypeError("logLevel is the least level of the logging records sent to onOutput: give onOutput too");
  if (onProgress) fields.progress = true;
  return fields;
}

/** Whether `response` is the reply that ends a stream of `given` items: `{items: given}`. */
function isEnd(response, given) {
  return response !== null && typeof response === "object" && !Array.isArray(response) &&
    Object.keys(response).length === 1 && response.items === given;
}

/** An Error named like Python's TimeoutError, for calls, connections and start-up that take too long. */
function timeoutError(message, cause) {
  const error = new Error(message, cause ? { cause } : undefined);
  error.name = "TimeoutError";
  return error;
}

/** setTimeout, except that an infinite delay never fires (setTimeout would fire at once); returns the timer or null. */
function after(milliseconds, callback) {
  return Number.isFinite(milliseconds) ? setTimeout(callback, milliseconds) : null;
}

/** Throw a RangeError, saying why, if the server would refuse request `text` (of `command`) as over its `limits`. */
function checkLimits(command, text, { max_depth: maxDepth, max_size: maxSize }) {
  if (Number.isFinite(maxSize) && text.length * 3 > maxSize) {
    const size = utf8Length(text);
    if (size > maxSize) {
      throw new RangeError(`cannot send ${command}: the request is ${size} bytes, more than the ${maxSize} the server ` +
        "takes (its --max-size)");
    }
  }
  if (Number.isFinite(maxDepth) && deeperThan(text, maxDepth)) {
    throw new RangeError(`cannot send ${command}: it nests arrays and objects more than the ${maxDepth} levels the ` +
      `server takes, counted from the request's outer object (an argument may nest ${maxDepth - 3})`);
  }
}

/** How many bytes `text` takes in UTF-8 (JSON.stringify's text has no lone surrogate). */
function utf8Length(text) {
  let bytes = text.length;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit >= 0x80) bytes += unit < 0x800 || (unit >= 0xd800 && unit < 0xe000) ? 1 : 2;
  }
  return bytes;
}

/** Whether JSON `text` nests arrays and objects more than `limit` levels deep; text with few brackets is passed at once. */
function deeperThan(text, limit) {
  let brackets = 0;
  for (const open of "[{") {
    for (let at = text.indexOf(open); at >= 0 && brackets <= limit; at = text.indexOf(open, at + 1)) brackets++;
  }
  if (brackets <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (inString) {
      if (unit === 0x5c) index++; // a backslash escapes the next unit
      else if (unit === 0x22) inString = false;
    } else if (unit === 0x22) {
      inString = true;
    } else if (unit === 0x5b || unit === 0x7b) {
      if (++depth > limit) return true;
    } else if (unit === 0x5d || unit === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** The URL of `address` (`ws://host:port/...` or `host:port`) without any token, as messages show it. */
function shownUrl(address) {
  const url = new URL(address.includes("://") ? address : `ws://${address}`);
  url.searchParams.delete("token");
  return url.href;
}

/** Throw, saying what to give, unless `address` (`ws://host:port/...` or `host:port`) names a host and a port. */
function checkAddress(address) {
  const text = typeof address === "string" && address.includes("://") ? address : `ws://${address}`;
  const shown = JSON.stringify(address);
  try {
    new URL(text);
  } catch {
    throw new TypeError(`${shown} is not an address: give HOST:PORT or ws://HOST:PORT, for example localhost:8001`);
  }
  // URL drops a scheme's default port (ws://host:80), so look for one in the text itself.
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:\d+(?:[/?#]|$)/i.test(text)) {
    throw new TypeError(`${shown} has no port: give HOST:PORT, for example localhost:8001 (the server's default), ` +
      "or the port its start marker shows");
  }
}

/**
 * A conversation with a liaison, with one Promise-returning method per command.
 * Use connect() or spawn() to make one.
 */
export class Client {
  /** `channel`: `url`, `send(text)`, `close()`, and `open({message, end})`, which resolves once the channel has closed. */
  constructor(channel, { timeout = DEFAULT_TIMEOUT } = {}) {
    this.channel = channel;
    this.socket = channel.socket ?? null;
    this.url = channel.url;
    this.timeout = timeout;
    this.nextId = 1;
    this.pending = new Map();
    // Requests nobody waits for any more, by id, until their reply comes: what comes for them is dropped.
    this.abandoned = new Map();
    this.handlers = new Map();
    this.ended = null;
    this.hello = null;
    this.limits = DEFAULT_LIMITS;
    this.closed = channel.open({ message: (text) => this.receive(text), end: (reason) => this.end(reason) });
  }

  get(target, options) { return this.call("get", [target], {}, options); }
  exists(target, options) { return this.call("exists", [target], {}, options); }
  init(name, cls, args = [], kwargs = {}, options) { return this.call("init", [name, cls, ...args], kwargs, options); }
  run(fcn, args = [], kwargs = {}, options) { return this.call("run", [fcn, ...args], kwargs, options); }
  try(fcn, args = [], kwargs = {}, options) { return this.call("try", [fcn, ...args], kwargs, options); }
  register(name, target, options) { return this.call("register", [name, target], {}, options); }
  store(name, value, options) { return this.call("store", [name, value], {}, options); }
  ping(options) { return this.call("ping", [], {}, options); }

  /** What `target` is and how to call it; with no target, the server's commands and their signatures. */
  describe(target = null, options) { return this.call("describe", target === null ? [] : [target], {}, options); }

  /**
   * Ask the server to cancel this client's request `id` (a call's promise has it as `.id`); resolves to
   * "dequeued", "interrupted", "finished" or "unknown". The cancelled call rejects with a RemoteError
   * of type "Cancelled" once the server ends it.
   */
  cancel(id, options) { return this.call("cancel", [id], {}, options); }

  /**
   * Send `command` and resolve to its response; reject with a RemoteError, a TimeoutError or a lost connection.
   * Options: `timeout` (ms; the client's by default; Infinity waits for ever) and `signal` (an AbortSignal).
   * When the timeout passes or the signal aborts, the call is cancelled in the server. A timed-out call then
   * rejects with a TimeoutError (its `cause` is the Cancelled RemoteError when that came), an aborted one with
   * the server's reply (a Cancelled RemoteError, unless it had finished), each as soon as the server has ended
   * it, or after CANCEL_GRACE ms if it does not (an aborted one then with `signal.reason`). A request over the
   * server's limits (its nesting, and its size when it told it in `hello`) rejects at once with a RangeError,
   * sending nothing. The returned promise carries the request's id as `.id`.
   * `onOutput` asks the server for the command's output: it gets each `{tag: "stream", id, name, text}` message
   * (name "stdout", "stderr", "log" for logging records at `logLevel` and above, "WARNING" by default, or
   * "warning"); `onProgress` asks for its progress: it gets each `{tag: "progress", id, done, total, message}`
   * from `liaison.progress()`. Both are called before the call resolves. Without them the command's output goes
   * where it goes without a client (the server's stdout, stderr and log).
   */
  call(command, args = [], kwargs = {}, options = {}) {
    return this.request(command, args, kwargs, options);
  }

  /**
   * Send `command` asking for its result item by item; returns an AsyncIterable of the items, for `for await`.
   * For a command whose result is an iterator (a generator, `map`...), the server sends each item as it is
   * made, at most `window` (1 to 1024; STREAM_WINDOW by default) ahead of those the loop has taken; the
   * command's generator waits for the rest. The request goes out when the loop asks for the first item.
   * `timeout` (ms; the client's by default) bounds each wait for the next item or the end, not the whole
   * stream; it and `signal` cancel the request as for call(), and the loop throws as the call would reject.
   * Leaving the loop early (`break`, `return`, an exception) cancels the request without waiting: the server
   * closes the generator, whose `finally` runs. An error reply, the generator's exception included, throws once
   * the items before it are taken. A result that is an array (or a server that cannot stream, which sends the
   * array) gives its items; any other result throws a TypeError. `onOutput`, `onProgress`, `logLevel` as for call().
   */
  stream(command, args = [], kwargs = {}, options = {}) {
    const { window = STREAM_WINDOW } = options;
    if (!Number.isInteger(window) || window < 1 || window > MAX_WINDOW) {
      throw new RangeError(`window must be a whole number of items from 1 to ${MAX_WINDOW}, not ${JSON.stringify(window)}`);
    }
    return this.items(command, args, kwargs, options, window);
  }

  /**
   * The async generator stream() returns: send the request, give each item as it comes, say `more` after each
   * half `window` taken, and cancel the request if the loop ends before the stream.
   */
  async *items(command, args, kwargs, { timeout = this.timeout, signal, onOutput, onProgress, logLevel }, window) {
    const queue = [];
    let wake = () => {};
    let finished = false;
    const onItem = (item) => {
      queue.push(item);
      wake();
    };
    const done = this.request(command, args, kwargs, { timeout, signal, onOutput, onProgress, logLevel },
      { onItem, fields: { stream: { window } } });
    if (done.id === null) await done; // it was not sent: this throws why
    const call = this.pending.get(done.id);
    done.then(() => {}, () => {}).then(() => {
      finished = true;
      wake();
    });
    let given = 0;
    let unacknowledged = 0;
    try {
      for (;;) {
        if (queue.length === 0 && !finished && !call.stopping) {
          await new Promise((resolve) => {
            const timer = after(timeout, () => this.stop(done.id, "timeout"));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        if (call.stopping || queue.length === 0) break;
        yield queue.shift();
        given++;
        if (++unacknowledged >= Math.max(1, Math.floor(window / 2))) {
          this.more(done.id, unacknowledged);
          unacknowledged = 0;
        }
      }
    } finally {
      if (this.pending.has(done.id) && !call.stopping) this.giveUp(done.id, "closed");
    }
    const response = await done;
    if (isEnd(response, given)) return;
    if (!Array.isArray(response) || given > 0) {
      throw new TypeError(`${command} returned ${response === null ? "null" : typeof response}, not an iterator or an ` +
        "array: use call() for it");
    }
    yield* response;
  }

  /** Tell the server that `count` more items of streamed request `id` were taken, unless it has ended; nobody waits for the answer. */
  more(id, count) {
    if (!this.pending.has(id)) return;
    const answer = this.request("more", [id, count], {}, { timeout: Infinity });
    answer.catch(() => {});
    this.abandon(answer.id);
  }

  /**
   * Send one request: call() with, beside the options, the callback of a streamed call's items (`onItem`) and
   * `fields` to send beside the command and id.
   */
  request(command, args, kwargs, { timeout = this.timeout, signal, onOutput, onProgress, logLevel } = {}, { onItem, fields } = {}) {
    let id = null;
    const promise = new Promise((resolve, reject) => {
      if (this.ended !== null) throw new Error(this.ended);
      signal?.throwIfAborted();
      const message = { command: { command, args, kwargs }, id: this.nextId, ...reportFields(onOutput, onProgress, logLevel), ...fields };
      const text = JSON.stringify(message);
      checkLimits(command, text, this.limits);
      id = this.nextId++;
      const call = { command, timeout, resolve, reject, timer: null, signal, onAbort: null, stopping: null, cancelId: null,
        cancelAnswer: null, onOutput, onProgress, onItem };
      this.pending.set(id, call);
      // A streamed call's timeout bounds each wait for an item, not the whole call: items() times those.
      if (!onItem) call.timer = after(timeout, () => this.stop(id, "timeout"));
      if (signal) {
        call.onAbort = () => this.stop(id, "abort");
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      try {
        this.channel.send(text);
      } catch (error) {
        this.forget(id);
        throw error;
      }
    });
    promise.id = id;
    return promise;
  }

  /** Stop waiting for call `id` (its timeout passed or its signal aborted): cancel it in the server, and give it CANCEL_GRACE ms to end. */
  stop(id, why) {
    const call = this.pending.get(id);
    if (!call || call.stopping) return;
    call.stopping = why;
    clearTimeout(call.timer);
    call.timer = setTimeout(() => this.giveUp(id, why), CANCEL_GRACE);
    const cancelling = this.call("cancel", [id], {}, { timeout: Infinity });
    call.cancelId = cancelling.id;
    cancelling.then((answer) => { call.cancelAnswer = `cancel answered "${answer}"`; },
      (error) => { call.cancelAnswer = `the server cannot cancel it (${error.message})`; });
  }

  /**
   * Stop waiting for call `id` and drop what still comes for it: a stopped call whose reply did not come within
   * CANCEL_GRACE is rejected; the call of a stream whose loop ended early ("closed") is cancelled in the server.
   */
  giveUp(id, why) {
    const call = this.abandon(id);
    if (why === "closed") {
      const cancelling = this.request("cancel", [id], {}, { timeout: Infinity });
      cancelling.catch(() => {});
      this.abandon(cancelling.id);
      return;
    }
    this.abandon(call.cancelId);
    if (call.stopping === "timeout") call.reject(this.timedOut(call, null));
    else call.reject(call.signal.reason);
  }

  /** The TimeoutError of a call that timed out, saying what came of its cancellation; `error` is its error reply's, if any. */
  timedOut(call, error, finished) {
    let outcome = `${call.cancelAnswer ?? "sent cancel, no answer"}: it may still be running`;
    if (error?.type === "Cancelled") outcome = "cancelled it";
    else if (finished) outcome = "it had just ended";
    const missing = call.onItem ? "no item or reply of" : "no reply to";
    return timeoutError(`${missing} ${call.command} within ${call.timeout} ms from ${this.url}; ${outcome}`, error ?? undefined);
  }

  /** Stop waiting for request `id` and drop its reply without a word if it comes; return its call, if it was waiting. */
  abandon(id) {
    if (!this.pending.has(id)) return undefined;
    this.abandoned.set(id, this.pending.get(id));
    return this.forget(id);
  }

  /** Remove call `id` from the waiting ones, with its timer and abort listener; return it. */
  forget(id) {
    const call = this.pending.get(id);
    this.pending.delete(id);
    clearTimeout(call.timer);
    call.signal?.removeEventListener("abort", call.onAbort);
    return call;
  }

  /**
   * Call `handler(message)` for every pushed message whose `tag` is `tag`; "*": every pushed message.
   * Tag handlers run before "*" ones, each in the order registered. Returns a function that removes the handler.
   */
  on(tag, handler) {
    this.handlers.set(tag, [...(this.handlers.get(tag) ?? []), handler]);
    return () => this.handlers.set(tag, (this.handlers.get(tag) ?? []).filter((known) => known !== handler));
  }

  /** Route one message: replies to the call waiting on their id, pushed messages to the handlers of their tag. */
  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      console.warn(`liaison: ${this.url} sent a message that is not JSON (${error.message}):`, text.slice(0, 200));
      return;
    }
    if (isReply(message)) this.settle(message);
    else if (!this.route(message)) this.push(message);
  }

  /**
   * Hand a message the server sent for one of this client's calls (its output, progress, or an item of its
   * streamed result) to that call; return false for any other message, a pushed one. A message for an abandoned
   * call is dropped. One whose id is no call's, or that the call did not ask for, is taken for a pushed message
   * that happens to look alike.
   */
  route(message) {
    if (message === null || typeof message !== "object" || typeof message.tag !== "string" ||
      !Object.hasOwn(CALL_MESSAGES, message.tag) || !("id" in message)) {
      return false;
    }
    const callback = CALL_MESSAGES[message.tag];
    const waiting = this.pending.get(message.id);
    const call = waiting ?? this.abandoned.get(message.id);
    if (!call?.[callback]) return false;
    if (!waiting) return true;
    try {
      call[callback](message.tag === "item" ? message.item : message);
    } catch (error) {
      console.error(`liaison: the ${callback} callback of a call failed for a message from ${this.url}:`, error);
    }
    return true;
  }

  /**
   * Send `hello` with FEATURES and keep the server's answer as `hello`, and the limits it gives; a server
   * without `hello` (liaison-py, older liaison-backend) answers with an error, and the client goes on without.
   */
  async greet() {
    let answer = null;
    try {
      answer = await this.call("hello", [], { features: [...FEATURES] });
    } catch (error) {
      if (!(error instanceof RemoteError)) throw error;
    }
    if (answer !== null && typeof answer === "object" && "protocol" in answer) {
      this.hello = answer;
      this.limits = { ...DEFAULT_LIMITS, ...answer.limits };
    }
  }

  /**
   * The id of the oldest request still unanswered that is not urgent. The server answers those in the order
   * they came, so an error reply whose `evt` is null (the server could not read the request) is that one's.
   */
  oldestWaiting() {
    const ids = [];
    for (const [id, call] of this.pending) if (!URGENT.has(call.command)) ids.push(id);
    for (const [id, call] of this.abandoned) if (!URGENT.has(call.command)) ids.push(id);
    return ids.reduce((oldest, id) => (oldest === undefined || id < oldest ? id : oldest), undefined);
  }

  /** Settle the call a reply answers. */
  settle(reply) {
    const id = reply.evt === null && reply.tag === "error" ? this.oldestWaiting() : reply.evt?.id;
    if (this.abandoned.delete(id)) return;
    if (!this.pending.has(id)) {
      console.warn(`liaison: a reply from ${this.url} matches no waiting call:`, reply);
      return;
    }
    const call = this.forget(id);
    const error = reply.tag === "error" ? remoteError(reply) : null;
    if (call.stopping === "timeout") call.reject(this.timedOut(call, error, true));
    else if (error) call.reject(error);
    else call.resolve(reply.response);
  }

  /** Hand a pushed message to the handlers of its tag, then to the "*" handlers. */
  push(message) {
    const tag = message !== null && typeof message === "object" && typeof message.tag === "string" ? message.tag : "*";
    const handlers = [...(tag === "*" ? [] : this.handlers.get(tag) ?? []), ...(this.handlers.get("*") ?? [])];
    for (const handler of handlers) {
      try {
        handler(message);
      } catch (error) {
        console.error(`liaison: a handler failed for a message from ${this.url}:`, error);
      }
    }
  }

  /** Reject every waiting call: the connection has ended. */
  end(reason) {
    if (this.ended !== null) return;
    this.ended = reason;
    for (const id of [...this.pending.keys()]) this.forget(id).reject(new Error(reason));
    this.abandoned.clear();
  }

  /**
   * Close the connection (a close frame, or the end of a spawned stdio server's stdin); resolves once it is closed.
   * Streamed calls still open are cancelled first (nobody will read them): their loops throw.
   */
  close() {
    this.closeStreams();
    this.channel.close();
    return this.closed;
  }

  /** Cancel every streamed call still open, dropping what still comes for them; their loops throw. */
  closeStreams() {
    for (const [id, call] of [...this.pending]) {
      if (!call.onItem || call.stopping) continue;
      call.stopping = "closed";
      this.giveUp(id, "closed");
      call.reject(new Error(`the client of ${this.url} was closed`));
    }
  }
}

/** A WebSocket as a Client's channel. */
function socketChannel(socket) {
  const url = shownUrl(socket.url);
  return {
    url,
    socket,
    send: (text) => socket.send(text),
    close: () => socket.close(1000),
    open({ message, end }) {
      socket.addEventListener("message", (event) => message(typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data)));
      return new Promise((resolve) => {
        socket.addEventListener("close", (event) => {
          end(`${url} closed the connection (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`);
          resolve();
        });
      });
    },
  };
}

/** The WebSocket class to use: the one passed in, or the platform's; throws, saying what to pass, if there is none. */
function webSocketClass(WebSocket = globalThis.WebSocket) {
  if (!WebSocket) throw new Error("this platform has no WebSocket: pass one as {WebSocket} (the ws package on Node before 22)");
  return WebSocket;
}

/** Open a WebSocket to `address` and resolve to it once open, or reject after `timeout` ms. */
function openSocket(address, { token, timeout, WebSocket }) {
  const url = shownUrl(address);
  // Browsers cannot set headers, so the token goes in the query, percent-encoded: the server reads "+" as "+".
  const withToken = new URL(url);
  if (token != null) withToken.search += `${withToken.search ? "&" : "?"}token=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(withToken.href);
    socket.binaryType = "arraybuffer";
    const timer = after(timeout, () => {
      socket.close();
      reject(timeoutError(`could not connect to ${url} within ${timeout} ms`));
    });
    const failed = () => {
      clearTimeout(timer);
      handshakeAnswer(withToken, timeout).then((answer) => reject(new Error(notOpened(url, answer, token != null))));
    };
    socket.addEventListener("error", failed);
    socket.addEventListener("open", () => {
      clearTimeout(timer);
      socket.removeEventListener("error", failed);
      resolve(socket);
    });
  });
}

/** What a page learns of a websocket that did not open: nothing, so the message lists what it may be. */
const BROWSER_HIDES = "the browser does not tell pages why. Nothing may be listening there, or the server refused " +
  "the token (HTTP 401), the page's origin or host (403), or was full (503): a server that refused says why on its stderr";

/**
 * How the server answers a websocket handshake for `url` (a URL object, with any token): `{status}`, or `{error}`
 * when the connection failed. A WebSocket that did not open does not say why, so Node (and Electron's main
 * process) asks again over plain HTTP; null in browsers, which cannot.
 */
async function handshakeAnswer(url, timeout) {
  if (!globalThis.process?.versions?.node) return null;
  let http;
  try {
    http = await import(url.protocol === "wss:" ? "node:https" : "node:http");
  } catch {
    return null;
  }
  return new Promise((resolve) => {
    const request = http.get(url.href.replace(/^ws/, "http"), { headers: {
      Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    } });
    const timer = after(timeout, () => request.destroy(new Error(`no answer within ${timeout} ms`)));
    const settle = (answer) => {
      clearTimeout(timer);
      resolve(answer);
    };
    request.once("response", (response) => {
      settle({ status: response.statusCode });
      request.destroy();
    });
    request.once("upgrade", (response, socket) => {
      settle({ status: response.statusCode });
      socket.destroy();
    });
    // Also after the answer: destroying the request may fail it.
    request.on("error", (error) => settle({ error }));
  });
}

/** Why a WebSocket to `shown` (its URL without token) did not open, given the server's `answer` (null: unknown), and what to do. */
function notOpened(shown, answer, tokenSent) {
  if (answer === null) return `could not connect to ${shown}: ${BROWSER_HIDES}`;
  if (answer.error?.code === "ECONNREFUSED") return `nothing is listening at ${shown}: is the server started, at this address?`;
  if (answer.error) return `could not connect to ${shown}: ${answer.error.message}`;
  const started = "the one the server was started with (its LIAISON_TOKEN or --token)";
  switch (answer.status) {
    case 401:
      return tokenSent ? `${shown} refused the token (HTTP 401): pass ${started}`
        : `${shown} wants a token (HTTP 401): pass ${started} as {token}`;
    case 403:
      return `${shown} refused the host name ${new URL(shown).hostname} (HTTP 403, against DNS rebinding): connect to ` +
        "localhost, 127.0.0.1 or the address the server was started on";
    case 503:
      return `${shown} is full (HTTP 503): it has as many clients as its --max-clients allows; close another ` +
        "client, or start the server with a higher --max-clients";
    case 101:
      return `could not connect to ${shown}, though the server lets a connection in now: try again`;
    default:
      return `${shown} refused the connection with HTTP ${answer.status}`;
  }
}

/**
 * Connect to the liaison at `address` (`ws://host:port` or `host:port`); resolves to a Client once open and
 * greeted (`hello`). Options: `token`, `timeout` (ms), and `WebSocket` where the platform has none (Node before
 * 22: the `ws` package). Rejects with an Error that says why the connection failed, where the platform lets it know.
 */
export async function connect(address, { token, timeout = DEFAULT_TIMEOUT, WebSocket } = {}) {
  checkAddress(address);
  const socket = await openSocket(address, { token, timeout, WebSocket: webSocketClass(WebSocket) });
  const client = new Client(socketChannel(socket), { timeout });
  try {
    await client.greet();
  } catch (error) {
    client.channel.close();
    throw error;
  }
  return client;
}

/** A Client of a server it started; close() also stops that server. */
export class SpawnedClient extends Client {
  constructor(channel, child, transport, options) {
    super(channel, options);
    this.process = child;
    this.transport = transport;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
  }

  /**
   * Stop the server and wait for it to exit (killing it after the timeout), and close the connection.
   * Over a websocket the server is stopped with `run liaison.stop`; over stdio, by the end of its stdin.
   */
  async close() {
    if (this.transport === "websocket" && this.ended === null) {
      try {
        await this.run("liaison.stop");
      } catch (error) {
        console.warn(`liaison: could not stop the server at ${this.url} by command (${error.message}); terminating it`);
        this.process.kill();
      }
    }
    const killer = setTimeout(() => this.process.kill("SIGKILL"), Number.isFinite(this.timeout) ? this.timeout : DEFAULT_TIMEOUT);
    await super.close();
    await this.exited;
    clearTimeout(killer);
  }
}

/**
 * Read `child`'s stdout as it comes, and resolve to what follows the start marker in its first chunk
 * (websocket) or first line (stdio); reject if it exits, fails to start, writes something else, or
 * stays silent past the timeout. `lines`, if given, then gets every later line.
 */
function started(child, expected, { command, timeout, stderrSoFar, lines }) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let waiting = true;
    const settle = (outcome, value) => {
      waiting = false;
      clearTimeout(timer);
      child.off("close", onClose);
      child.off("error", onError);
      outcome(value);
    };
    const timer = after(timeout, () => settle(reject, timeoutError(
      `${command} wrote no start marker within ${timeout} ms; its stderr: ${stderrSoFar()}`)));
    const onData = (text) => {
      if (!waiting) {
        if (lines) buffer = split(buffer + text, lines);
        return;
      }
      if (lines) {
        buffer += text;
        const newline = buffer.indexOf("\n");
        if (newline < 0) return;
        text = buffer.slice(0, newline + 1);
        buffer = buffer.slice(newline + 1);
      }
      if (text.startsWith(expected)) {
        settle(resolve, text.slice(expected.length));
        if (lines) buffer = split(buffer, lines);
      } else {
        settle(reject, new Error(`${command} wrote ${JSON.stringify(text.slice(0, 200))} instead of its start marker; its stderr: ${stderrSoFar()}`));
      }
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

/** Hand every whole line in `text` to `lines`; return the incomplete rest. */
function split(text, lines) {
  const parts = text.split("\n");
  const rest = parts.pop();
  lines(parts);
  return rest;
}

/**
 * A spawned `python -m liaison.stdio` as a Client's channel, one JSON message per line each way.
 * Lines that arrive before the client is listening wait for it, so handlers registered right after
 * spawn() resolves see every pushed message.
 */
function pipeChannel(child, command, stopLine) {
  const waiting = [];
  let deliver = (lines) => waiting.push(...lines);
  let stopped = false;
  // "close" comes once the child has exited and its stdout has been read to the end.
  const closed = new Promise((resolve) => child.once("close", resolve));
  // A write to a server that has gone fails with EPIPE; its exit ends the client, which says so.
  child.stdin.on("error", () => {});
  return {
    url: `${command} (pid ${child.pid})`,
    lines: (lines) => deliver(lines),
    send: (text) => child.stdin.write(`${text}\n`),
    close: () => child.stdin.end(),
    open({ message, end }) {
      const take = (lines) => {
        for (const line of lines) {
          if (line === stopLine) stopped = true;
          else if (!stopped) message(line);
        }
      };
      setImmediate(() => {
        deliver = take;
        take(waiting.splice(0));
      });
      // After the waiting lines are handed over.
      return closed.then(() => new Promise((resolve) => setImmediate(resolve))).then(() => {
        const how = stopped ? "stopped" : `exited with ${child.exitCode ?? child.signalCode} without its stop marker`;
        end(`${command} (pid ${child.pid}) ${how}`);
      });
    },
  };
}

/** spawn()'s options for the server, with the command-line option each stands for; an array gives it once per item. */
const SERVER_OPTIONS = {
  allowImport: "--allow-import",
  allowOrigin: "--allow-origin",
  logLevel: "--log-level",
  maxSize: "--max-size",
  maxClients: "--max-clients",
};

/** spawn()'s options that only a websocket server takes: nothing but this process can reach a stdio one. */
const REACHABLE_ONLY = ["address", "token", "allowOrigin", "maxClients"];

/** The command-line arguments of the server options among spawn()'s `options`. */
function serverArguments(options) {
  return Object.entries(SERVER_OPTIONS).flatMap(([name, flag]) =>
    [options[name] ?? []].flat().flatMap((value) => [flag, String(value)]));
}

/**
 * Node and Electron: start a liaison server in a child process, wait for its start marker, and resolve to a
 * SpawnedClient whose close() stops the server, once it has greeted the server (`hello`).
 * `transport` "websocket" (the default) runs `python -m liaison.websocket address` (default 127.0.0.1:0, a
 * free port) and connects, with `token` handed to the server in its environment (LIAISON_TOKEN), never on its
 * command line; "stdio" runs `python -m liaison.stdio` and talks over its stdin and stdout (no port, no token:
 * nothing else can connect). Options as connect(), plus `python` (default python3, or python on Windows); the
 * server's options `allowImport` (an array of module prefixes), `allowOrigin` (an array of origins), `logLevel`,
 * `maxSize` (bytes) and `maxClients`; `args`, any other command-line arguments for the server; and `cwd` and
 * `env` for its process, as child_process.spawn takes them (`env` replaces this process's environment). The
 * server's stderr is passed through to this process's stderr. Rejects, quoting the server's stderr, if it exits
 * or stays silent past the timeout.
 */
export async function spawn(options = {}) {
  const {
    transport = "websocket",
    python = globalThis.process?.platform === "win32" ? "python" : "python3",
    address,
    token,
    timeout = DEFAULT_TIMEOUT,
    WebSocket,
    args = [],
    cwd,
    env = process.env,
  } = options;
  if (transport === "stdio" && REACHABLE_ONLY.some((name) => options[name] != null)) {
    throw new TypeError('spawn({transport: "stdio"}) takes no address, token, allowOrigin or maxClients: nothing but this ' +
      "process can reach it");
  }
  if (transport !== "stdio" && transport !== "websocket") {
    throw new TypeError(`transport must be "websocket" or "stdio", not ${JSON.stringify(transport)}`);
  }
  const socketClass = transport === "websocket" ? webSocketClass(WebSocket) : null;
  const childProcess = await import("node:child_process");
  const serverEnv = { ...env };
  if (token != null) serverEnv.LIAISON_TOKEN = token;
  const command = transport === "stdio" ? ["-m", "liaison.stdio"] : ["-m", "liaison.websocket", address ?? "127.0.0.1:0"];
  command.push(...serverArguments(options), ...args);
  const shown = [python, ...command].join(" ");
  const child = childProcess.spawn(python, command, { cwd, env: serverEnv, stdio: [transport === "stdio" ? "pipe" : "ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text) => {
    stderr = (stderr + text).slice(-STDERR_QUOTE);
    process.stderr.write(text);
  });
  const stderrSoFar = () => stderr.trim() || "(nothing)";
  try {
    let client;
    if (transport === "stdio") {
      const channel = pipeChannel(child, shown, `${STOP_MARKER}@stdio`);
      await started(child, `${START_MARKER}@stdio\n`, { command: shown, timeout, stderrSoFar, lines: channel.lines });
      client = new SpawnedClient(channel, child, transport, { timeout });
    } else {
      const listening = await started(child, `${START_MARKER}@`, { command: shown, timeout, stderrSoFar });
      const socket = await openSocket(listening, { token, timeout, WebSocket: socketClass });
      client = new SpawnedClient(socketChannel(socket), child, transport, { timeout });
    }
    await client.greet();
    return client;
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}
