// How a TypeScript app uses liaison-client: `npm test` type-checks this file (tsc --strict) against liaison.d.ts.
// It is never run. Lines marked @ts-expect-error must stay errors, so the declarations cannot drift to `any`.
import {
  CANCEL_GRACE, Client, DEFAULT_TIMEOUT, FEATURES, RemoteError, STREAM_WINDOW, SpawnedClient, connect, spawn,
  type CallOptions, type CancelAnswer, type CommandList, type Description, type OutputMessage, type ProgressMessage,
  type ServerHello, type StreamOptions, type TaggedMessage,
} from "liaison-client";

export async function usage(): Promise<void> {
  const timeouts: number[] = [DEFAULT_TIMEOUT, CANCEL_GRACE];
  const client: Client = await connect("ws://127.0.0.1:8001", { token: "secret", timeout: 5000, WebSocket });
  const spawned: SpawnedClient = await spawn({ transport: "stdio", python: "python3", timeout: timeouts[0] });
  const listening: SpawnedClient = await spawn({ address: "127.0.0.1:0", token: "t" });
  const configured = await spawn({
    allowImport: ["math", "myapp.api"], allowOrigin: "https://app.example", logLevel: "INFO", maxSize: 1 << 20, maxClients: 4,
    args: ["--send-timeout", "30"], cwd: "/tmp", env: { PATH: "/usr/bin", PYTHONPATH: "src" },
  });
  const hello: ServerHello | null = configured.hello;
  const features: readonly string[] = hello?.features ?? FEATURES;
  const maxSize: number | undefined = hello?.limits.max_size;
  console.log(features, maxSize);

  const pong: "pong" = await client.ping();
  const root: number = await client.run<number>("math:sqrt", [2]);
  const anything: unknown = await client.run("math:pow", [2, 10], {}, { timeout: 100 });
  const name: string = await client.init("p", "fractions:Fraction", [3], { denominator: 4 });
  const numerator = await client.get<number>("p.numerator");
  const found: boolean = await client.exists("p.denominator");
  const outcome: { success: boolean; result: number } = await client.try<number>("math:sqrt", [-1]);
  const stored: string = await client.store("numbers", [1, 2, 3]);
  const registered: string = await client.register(null, "os.path:join");
  const raw = await client.call<string[]>("run", ["os:listdir", "."]);

  const controller = new AbortController();
  const options: CallOptions = { signal: controller.signal, timeout: Infinity };
  const long = spawned.run("time:sleep", [60], {}, options);
  const id: number | null = long.id;
  if (id !== null) {
    const answer: CancelAnswer = await spawned.cancel(id);
    console.log(answer);
  }
  controller.abort();
  try {
    await long;
  } catch (error) {
    if (error instanceof RemoteError) {
      const parts: [string, string, string[]] = [error.type, error.remoteMessage, error.traceback];
      console.log(parts, error.message, error.name);
    }
  }

  const output: string[] = [];
  const printed: string = await client.run<string>("myapp:job", [3], {}, {
    onOutput: (message: OutputMessage) => output.push(`${message.name}: ${message.text}`),
    onProgress: ({ done, total, message }: ProgressMessage) => console.log(done, total ?? "?", message ?? ""),
    logLevel: "INFO",
  });
  const streamOptions: StreamOptions = { window: STREAM_WINDOW, timeout: 5000, signal: controller.signal, logLevel: 10 };
  for await (const row of client.stream<number[]>("run", ["myapp:rows"], {}, streamOptions)) {
    const first: number | undefined = row[0];
    if (first === 0) break;
  }
  const rows: AsyncGenerator<string, void, undefined> = client.stream<string>("run", ["myapp:lines"]);
  console.log(printed, await rows.next(), await rows.return(undefined));

  const description: Description = await client.describe("math:sqrt");
  console.log(description.kind, description.signature, description.parameters?.[0]?.default, description.members);
  const commands: CommandList = await client.describe();
  console.log(Object.keys(commands.commands));

  const stopAlerts = client.on("alert", (message: TaggedMessage) => console.log(message.tag, message.message));
  const stopTyped = client.on<{ tag: "progress"; done: number }>("progress", (message) => console.log(message.done));
  const stopAll = client.on("*", (message: unknown) => console.log(message));
  stopAlerts();
  stopTyped();
  stopAll();

  console.log(client.url, client.socket?.url, client.ended, pong, root, anything, name, numerator, found, outcome, stored,
    registered, raw, spawned.process.pid, spawned.transport);
  const error = new RemoteError({ type: "ValueError", message: "boom", traceback: ["ValueError: boom"] });
  console.log(error.type);

  // @ts-expect-error: positional arguments go in an array
  await client.run("math:sqrt", 2);
  // @ts-expect-error: exists resolves to a boolean
  const wrong: string = await client.exists("x");
  // @ts-expect-error: there is no such transport
  await spawn({ transport: "pipe" });
  // @ts-expect-error: cancel takes a request id
  await client.cancel("1");
  // @ts-expect-error: there is no such log level
  await spawn({ logLevel: "LOUD" });
  // @ts-expect-error: an output message's name is one of four
  client.call("run", [], {}, { onOutput: (message) => { const name: "print" = message.name; console.log(name); } });
  // @ts-expect-error: the window is a number
  client.stream("run", ["myapp:rows"], {}, { window: "16" });
  console.log(wrong);

  await client.closed;
  await Promise.all([client.close(), spawned.close(), listening.close(), configured.close(), spawned.exited]);
}
