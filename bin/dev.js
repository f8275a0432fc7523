#!/usr/bin/env node
// Runs the compiled commands after rebuilding them: `npm run build` is fast, and one code path is simpler than two.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execute } from '@oclif/core';

execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit' });
await execute({ dir: import.meta.url });
