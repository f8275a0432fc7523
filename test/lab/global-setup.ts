// vitest global setup for the `lab` project: reuse a running lab, else bring one up and take it
// down again afterwards (unless BATON_LAB_KEEP=1, handy when iterating on tests).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const labSh = fileURLToPath(new URL('./lab.sh', import.meta.url));

function lab(command: string, quiet = false): number {
  const r = spawnSync('bash', [labSh, command], { stdio: quiet ? 'ignore' : 'inherit' });
  return r.status ?? 1;
}

export default function setup(): () => void {
  const wasUp = lab('status', true) === 0;
  if (!wasUp && lab('up') !== 0) throw new Error('lab.sh up failed: see its output above');
  return () => {
    if (!wasUp && process.env.BATON_LAB_KEEP !== '1') lab('down');
  };
}
