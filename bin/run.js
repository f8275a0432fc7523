#!/usr/bin/env node
import { existsSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Node ≥ 22.1 keeps the compiled code of the modules loaded after this line between runs, in
// $XDG_CACHE_HOME/baton/compile-cache or ~/.cache/baton/compile-cache (NODE_COMPILE_CACHE names
// another folder, NODE_DISABLE_COMPILE_CACHE=1 turns it off): every later start skips parsing oclif
// and baton. Node 20 has no such cache and goes on as before; a folder that cannot be written never
// stops a command. The imports below are dynamic so that they come after it.
const { enableCompileCache } = await import('../dist/cli/src/cli/compile-cache.js');
enableCompileCache();
const { guardStdio } = await import('../dist/cli/src/output.js');
const { installSafetyNet } = await import('../dist/cli/src/cli/safety-net.js');

// Before anything is written: output is best-effort (a closed pipe never stops a run), and an
// error nothing caught ends as one line and exit 2, not a stack trace.
guardStdio();
installSafetyNet();

// oclif.manifest.json (written by `npm run build`) saves ~0.3 s a run; in a checkout, one older
// than the compiled commands would hide new ones, so it is dropped and oclif reads the commands
// instead. An installed package (no tsconfig.json: npm pack leaves it out) is not checked: its
// manifest and commands come from one tarball, their times are only the order npm unpacked them
// in, and the install may not be ours to write to.
const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = join(root, 'oclif.manifest.json');
if (existsSync(join(root, 'tsconfig.json')) && existsSync(manifest)) {
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs),
      0,
    );
  const commands = join(root, 'dist', 'cli', 'commands');
  if (!existsSync(commands) || newest(commands) > statSync(manifest).mtimeMs) unlinkSync(manifest);
}

// The bundled @oclif/core (scripts/bundle.mjs), the copy the commands import.
const { execute } = await import('#oclif-core');
await execute({ dir: import.meta.url });
