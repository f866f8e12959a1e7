// What the npm package holds: `npm pack --dry-run` lists the files its tarball would have.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const folder = new URL("..", import.meta.url);

test("the tarball holds the module, its declarations, a README and the LICENSE", () => {
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json"], { cwd: folder, encoding: "utf8" }));
  assert.deepEqual(packed.files.map((file) => file.path).sort(), ["LICENSE", "README.md", "liaison.d.ts", "liaison.js", "package.json"]);
});

test("the LICENSE is liaison-backend's", () => {
  assert.equal(readFileSync(new URL("LICENSE", folder), "utf8"), readFileSync(new URL("../../LICENSE", folder), "utf8"));
});
