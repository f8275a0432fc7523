// npm run bench:restore
// The fourth part of a plan in the lab, under bench:push's load: how long a snapshot of every host
// takes the first time and when nothing changed (and how many bytes it read), how long drift takes,
// and a wiped app host (service stopped, its /srv/shop gone) restored by `baton restore --run`:
// wall time, failed requests at the client, retries/redispatches at HAProxy. Prints JSON.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeLabConfig } from './lab-config.js';
import { DEFAULT_LOAD, labUp, ROOT, round, underLoad } from './lab-push.js';
import { asRoot } from '../test/lab/as-root.js';

labUp(2);
const dir = mkdtempSync(join(tmpdir(), 'baton-bench-restore-'));
const config = writeLabConfig(join(dir, 'baton.yml'), [
  [
    ['track'],
    { repo: './snapshots', app: ['/srv/shop/shop.env', '/srv/shop/bin'], balancer: ['/etc/haproxy/haproxy.cfg'] },
  ],
]);
const baton = (...args: string[]) =>
  execa('node', [`${ROOT}/bin/run.js`, ...args, '-c', config], {
    reject: false,
    env: { CI: '1', BATON_USER: 'bench-restore' },
  });
// As root, through the lab's console: the bench wipes a host behind baton's back.
const onHost = async (host: string, command: string) => ({ stdout: await asRoot(host, command) });
const lab = JSON.parse((await execa('cat', ['/run/baton-lab/lab.json'])).stdout) as {
  hosts: { name: string; role: string; cluster?: string; member?: string }[];
};
const host = lab.hosts.find((h) => h.role === 'app' && h.cluster === 'a')!;

async function timed(...args: string[]) {
  const t0 = performance.now();
  const r = await baton(...args, '--json');
  return {
    seconds: round((performance.now() - t0) / 1000),
    exitCode: r.exitCode,
    json: JSON.parse(r.stdout || '{}') as Record<string, unknown>,
  };
}

const bytes = (json: Record<string, unknown>) =>
  ((json.hosts as { bytesRead: number }[] | undefined) ?? []).reduce((n, h) => n + h.bytesRead, 0);
const first = await timed('snapshot');
const unchanged = await timed('snapshot');
const drift = await timed('drift');

await onHost(host.name, '/srv/shop/bin/shopctl stop');
for (let i = 0; i < 100; i++) {
  const out = (await onHost('lb.baton.test', 'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock')).stdout;
  if (out.split('\n').some((l) => l.split(',')[1] === host.member && l.split(',')[17]?.startsWith('DOWN'))) break;
  await new Promise((r) => setTimeout(r, 200));
}
// The lab's pg client is no part of the app's configuration: moved aside, put back after.
await onHost(host.name, 'mv /srv/shop/node_modules /srv/.bench-node_modules && rm -rf /srv/shop');
const restore = await underLoad(
  ['node', `${ROOT}/bin/run.js`, 'restore', host.name, '--run', '--yes', '-c', config, '--json'],
  DEFAULT_LOAD,
  config,
);
await onHost(host.name, 'mkdir -p /srv/shop && mv /srv/.bench-node_modules /srv/shop/node_modules');
const after = await timed('drift', host.name);

console.log(
  JSON.stringify(
    {
      snapshot: {
        hosts: (first.json.hosts as unknown[]).length,
        exitCode: first.exitCode,
        seconds: first.seconds,
        bytesRead: bytes(first.json),
      },
      snapshotUnchanged: { exitCode: unchanged.exitCode, seconds: unchanged.seconds, bytesRead: bytes(unchanged.json) },
      drift: { exitCode: drift.exitCode, seconds: drift.seconds },
      restore: {
        host: host.name,
        exitCode: restore.exitCode,
        seconds: restore.seconds,
        requests: restore.load.requests,
        failed: restore.load.failed,
        redispatches: restore.redispatches + restore.retries,
        driftAfter: after.exitCode,
      },
    },
    null,
    2,
  ),
);
