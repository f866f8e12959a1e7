// A stand-in for Python in spawn tests: it answers `-m liaison.constants` like Python, then runs
// *rest* (shell lines) as a server that never starts.
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";

export async function fakePython(directory, name, rest) {
  const path = join(directory, name);
  await writeFile(path, `#!/bin/sh
if [ "$2" = liaison.constants ]; then exec python3 "$@"; fi
${rest}
`);
  await chmod(path, 0o755);
  return path;
}
