// Node before 22 has no global WebSocket: give the README's examples, written for Node 22
// and browsers, the ws package's (a devDependency of clients/js).
import { createRequire } from "node:module";

if (typeof globalThis.WebSocket === "undefined") {
  const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
  globalThis.WebSocket = require("ws").WebSocket;
}
