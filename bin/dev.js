#!/usr/bin/env node
// Runs the compiled commands after rebuilding them: `npm run build` is fast, and one code path is simpler than two.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
execFileSync('node', ['scripts/bundle.mjs'], { cwd: root, stdio: 'ignore' });
execFileSync('node', ['scripts/manifest.mjs'], { cwd: root, stdio: 'ignore' });
// Imported once built: the bundled @oclif/core the commands import (scripts/bundle.mjs).
const { execute } = await import('#oclif-core');
await execute({ dir: import.meta.url });
