// A stand-in for Python in spawn tests: a shell script that runs *rest* (shell lines) with spawn's arguments.
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";

export async function fakePython(directory, name, rest) {
  const path = join(directory, name);
  await writeFile(path, `#!/bin/sh\n${rest}\n`);
  await chmod(path, 0o755);
  return path;
}
