// Node 24 from npm's registry (its `node` package), installed once into a scratch prefix (never over
// the system's node), for the benches that compare runtimes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function node24(): string {
  const prefix = join(tmpdir(), 'baton-bench-node24');
  const bin = join(prefix, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', prefix, 'node@24'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0) throw new Error("could not install Node 24 from npm's registry (npm install node@24)");
  }
  return bin;
}

/** Whether this Node binary has `module.enableCompileCache` (Node ≥ 22.1). */
export function hasCompileCache(node: string): boolean {
  return (
    spawnSync(node, ['-e', 'process.exit(typeof require("node:module").enableCompileCache === "function" ? 0 : 1)'])
      .status === 0
  );
}
