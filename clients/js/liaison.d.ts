// Type declarations for liaison.js, written by hand: change them with it (npm test checks test/usage.ts against them).

/** Milliseconds to wait for a connection, a reply, or a spawned server's start marker. */
export declare const DEFAULT_TIMEOUT: number;

/** Milliseconds a timed-out or aborted call waits, after sending `cancel`, for the server to end it. */
export declare const CANCEL_GRACE: number;

/** The features a client asks for in `hello`: "interleave", pushed messages as they are made, even during its calls. */
export declare const FEATURES: readonly string[];

/** Items of a streamed result the server sends ahead of those read, unless stream() is told otherwise: 16. */
export declare const STREAM_WINDOW: number;

/** The features a server may offer in `hello`. */
export type Feature = "interleave" | "output" | "progress" | "stream";

/** The server's answer to `hello`, which every client sends before connect() or spawn() resolves. */
export interface ServerHello {
  /** The protocol's version: 2. */
  protocol: number;
  /** "liaison-backend". */
  server: string;
  version: string;
  /** The features asked for that the server enabled for this client. */
  features: string[];
  /** Every feature the server offers. */
  available: string[];
  /**
   * The server's limits: on requests, max_size (bytes), max_depth, max_int_digits; send_timeout (s) for a client
   * to take a message; for streams, stream_window (items sent ahead by default) and max_stream_window; for output,
   * output_batch_bytes and output_batch_seconds; progress_seconds between two progress messages.
   */
  limits: {
    max_size?: number; max_depth?: number; max_int_digits?: number; send_timeout?: number; stream_window?: number;
    max_stream_window?: number; output_batch_bytes?: number; output_batch_seconds?: number; progress_seconds?: number;
    [name: string]: unknown;
  };
}

/** What a command wrote, sent to the onOutput of the call that ran it, batched, before its reply. */
export interface OutputMessage {
  tag: "stream";
  /** The request's id. */
  id: number;
  /** sys.stdout, sys.stderr, a logging record (one line each, "LEVEL name: message"), or a warning. */
  name: "stdout" | "stderr" | "log" | "warning";
  text: string;
}

/** `liaison.progress(done, total, message)` from inside a command, sent to the onProgress of the call that ran it. */
export interface ProgressMessage {
  tag: "progress";
  /** The request's id. */
  id: number;
  done: number;
  total: number | null;
  message: string | null;
}

/** A logging level, by name (any case) or number. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL" | "debug" | "info" | "warning" | "error" | "critical" | number;

/** What the remote exception was: an error reply rejects a call with one. */
export declare class RemoteError extends Error {
  constructor(fields: { type: string; message: string; traceback?: string[] });
  readonly name: "RemoteError";
  /** The remote exception's type name, such as "ValueError"; "Cancelled" for a cancelled call. */
  type: string;
  /** The remote exception's message (`message` is "Type: message"). */
  remoteMessage: string;
  /** The remote traceback, one line per item; its last line is "Type: message". */
  traceback: string[];
}

/** Options every call takes. */
export interface CallOptions {
  /** Milliseconds to wait for the reply (the client's `timeout` by default; Infinity waits for ever); then the call is cancelled and rejects with a TimeoutError. */
  timeout?: number;
  /** Aborting it cancels the call in the server; the call then rejects with the server's Cancelled RemoteError (or `signal.reason` if none comes within CANCEL_GRACE). */
  signal?: AbortSignal;
  /** Asks the server for the command's output: called with each output message, all before the call resolves. */
  onOutput?: (message: OutputMessage) => void;
  /** Asks the server for the command's progress: called with each progress message, all before the call resolves. */
  onProgress?: (message: ProgressMessage) => void;
  /** With onOutput: the least level of the logging records sent ("WARNING" by default). */
  logLevel?: LogLevel;
}

/** Options of stream(): a call's, with `timeout` bounding each wait for an item, and the window. */
export interface StreamOptions extends CallOptions {
  /** Milliseconds to wait for each item or the end (the client's `timeout` by default); then the stream is cancelled and its loop throws a TimeoutError. */
  timeout?: number;
  /** Items the server sends ahead of those the loop has taken: 1 to 1024, STREAM_WINDOW (16) by default. */
  window?: number;
}

/** The promise a call returns, carrying the request's id for `cancel()` (null if the call never went out). */
export interface Call<T> extends Promise<T> {
  readonly id: number | null;
}

/** A pushed message with a tag, such as `{tag: "alert", message: {...}}`, as the server sent it. */
export interface TaggedMessage {
  tag: string;
  [key: string]: unknown;
}

/** What `cancel()` reports: the request was still queued, was running, had ended, or is not known. */
export type CancelAnswer = "dequeued" | "interrupted" | "finished" | "unknown";

/** A parameter of a described callable. */
export interface Parameter {
  name: string;
  /** How it is passed, as Python's `inspect` names it, such as "POSITIONAL_OR_KEYWORD" or "KEYWORD_ONLY". */
  kind: string;
  /** Present only when the parameter has a default. */
  default?: unknown;
  /** Present only when the parameter is annotated. */
  annotation?: string;
}

/** What `describe(target)` tells about a target. */
export interface Description {
  kind: "module" | "class" | "function" | "value";
  /** The qualified name, as a target: "module:qualname". */
  name: string;
  /** The signature as text, or null where Python cannot give one. */
  signature: string | null;
  parameters: Parameter[] | null;
  /** The first paragraph of the docstring. */
  doc: string | null;
  /** Public member names, for modules and classes. */
  members?: string[];
}

/** What `describe()` with no target tells: the server's commands. */
export interface CommandList {
  commands: { [name: string]: { signature: string | null; doc: string | null } };
}

/** The part of a WebSocket the client uses: the platform's, or the `ws` package's on Node before 22. */
export interface WebSocketLike {
  readonly url: string;
  binaryType: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}

/** A WebSocket class, such as `WebSocket` from the `ws` package. */
export type WebSocketClass = new (url: string) => WebSocketLike;

/** The part of a Node child process a SpawnedClient exposes. */
export interface ChildProcessLike {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  kill(signal?: string | number): boolean;
}

/** A conversation with a liaison, with one Promise-returning method per command. Use connect() or spawn(). */
export declare class Client {
  protected constructor();
  /** Where the server is: its ws:// URL (without any token), or how it was started for stdio. */
  readonly url: string;
  /** The WebSocket, for a websocket client; null over stdio. */
  readonly socket: WebSocketLike | null;
  /** Milliseconds each call waits for its reply, unless it says otherwise. */
  timeout: number;
  /**
   * The server's answer to `hello`; null from a server without it (liaison-py, liaison-backend before 1.2),
   * which gets no features. A call over its limits (or, without hello, nested over 100 levels) rejects at once
   * with a RangeError, sending nothing.
   */
  readonly hello: ServerHello | null;
  /** The reason the connection ended, once it has; calls then reject with it. */
  readonly ended: string | null;
  /** Resolves once the connection has ended. */
  readonly closed: Promise<void>;

  get<T = unknown>(target: string, options?: CallOptions): Call<T>;
  exists(target: string, options?: CallOptions): Call<boolean>;
  init(name: string, cls: string, args?: readonly unknown[], kwargs?: Record<string, unknown>, options?: CallOptions): Call<string>;
  run<T = unknown>(fcn: string, args?: readonly unknown[], kwargs?: Record<string, unknown>, options?: CallOptions): Call<T>;
  try<T = unknown>(fcn: string, args?: readonly unknown[], kwargs?: Record<string, unknown>, options?: CallOptions): Call<{ success: boolean; result: T }>;
  register(name: string | null, target: string, options?: CallOptions): Call<string>;
  store(name: string, value: unknown, options?: CallOptions): Call<string>;
  ping(options?: CallOptions): Call<"pong">;
  /** What `target` is and how to call it. */
  describe(target: string, options?: CallOptions): Call<Description>;
  /** The server's commands and their signatures. */
  describe(target?: null, options?: CallOptions): Call<CommandList>;
  /** Ask the server to cancel this client's request `id`; the cancelled call rejects with a Cancelled RemoteError. */
  cancel(id: number, options?: CallOptions): Call<CancelAnswer>;
  /** Send any command; resolves to its response. */
  call<T = unknown>(command: string, args?: readonly unknown[], kwargs?: Record<string, unknown>, options?: CallOptions): Call<T>;
  /**
   * Send any command asking for its result item by item, for `for await`: the items of an iterator result (or of
   * an array result), with back-pressure. Leaving the loop early cancels the request; an error reply, a timeout
   * or an aborted signal throws in the loop. A bad window throws a RangeError at once.
   */
  stream<T = unknown>(command: string, args?: readonly unknown[], kwargs?: Record<string, unknown>, options?: StreamOptions): AsyncGenerator<T, void, undefined>;

  /** Call `handler` for every pushed message (any JSON value), after the handlers of its tag; returns a function that removes it. */
  on(tag: "*", handler: (message: unknown) => void): () => void;
  /** Call `handler` for every pushed message with this tag; returns a function that removes it. */
  on<M = TaggedMessage>(tag: string, handler: (message: M) => void): () => void;

  /** Close the connection, cancelling open streams first; resolves once it is closed. */
  close(): Promise<void>;
}

/** A Client of a server it started; close() also stops that server. */
export declare class SpawnedClient extends Client {
  /** The server's process. */
  readonly process: ChildProcessLike;
  readonly transport: "websocket" | "stdio";
  /** Resolves once the server's process has exited. */
  readonly exited: Promise<void>;
  /** Stop the server, wait for it to exit (killing it after the timeout), and close the connection. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Sent as `?token=` in the URL (spawn: also handed to the server, in its environment; not with stdio). */
  token?: string;
  /** Milliseconds to wait for the connection, and for each reply. */
  timeout?: number;
  /** Where the platform has no WebSocket (Node before 22): the `ws` package's. */
  WebSocket?: WebSocketClass;
}

/**
 * Connect to the liaison at `address` (`ws://host:port` or `host:port`; the port is required); resolves to a
 * Client once open and greeted. Rejects with an Error saying why it could not connect, where the platform
 * lets it know (browsers do not).
 */
export declare function connect(address: string, options?: ConnectOptions): Promise<Client>;

export interface SpawnOptions extends ConnectOptions {
  /** "websocket" (the default): `python -m liaison.websocket`; "stdio": `python -m liaison.stdio` over its stdin and stdout. */
  transport?: "websocket" | "stdio";
  /** The Python to run: python3 by default (python on Windows). */
  python?: string;
  /** Websocket only: HOST:PORT to listen on; 127.0.0.1:0 (a free port) by default. */
  address?: string;
  /** `--allow-import`: the module trees targets may import from (a string is one). */
  allowImport?: string | readonly string[];
  /** Websocket only: `--allow-origin`, the browser page origins also allowed (a string is one). */
  allowOrigin?: string | readonly string[];
  /** `--log-level` of the server's log on stderr (passed through to this process's): WARNING by default. */
  logLevel?: "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";
  /** `--max-size`: the largest message in bytes the server takes. */
  maxSize?: number;
  /** Websocket only: `--max-clients`, the most connections open at once. */
  maxClients?: number;
  /** Any other command-line arguments for the server, such as ["--send-timeout", "30"]. */
  args?: readonly string[];
  /** The server's working directory. */
  cwd?: string;
  /** The server's environment, instead of this process's (the token is added to it). */
  env?: Record<string, string | undefined>;
}

/** Node and Electron: start a liaison server in a child process and resolve to a client of it once it has started. */
export declare function spawn(options?: SpawnOptions): Promise<SpawnedClient>;
