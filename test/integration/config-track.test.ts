// The fourth part of a plan against the lab's real hosts, HAProxy and git: a snapshot of each
// host's tracked files, a hand edit that `drift` shows (exit 5) and that makes `apply` refuse a
// plan made before it (exit 3, nothing changed) and that is told to a notify: target asking for drift,
// and a wiped app host brought back by `restore --run` under the push benchmark's load with no failed
// request and no redispatch.
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { startLoad } from '../lab/load.js';
import { balancerCounters, appHosts, currentReleases, onHost, readLab, readyAllHaproxyMembers } from './helpers/lab.js';

let dir: string;
let config: string;
let receiver: Server;
/** What the notify: target (a receiver on loopback) was sent. */
const told: unknown[] = [];
const lab = readLab();
const HAPROXY_CFG = lab.balancer.haproxy.config;
const PUBLIC = `http://${lab.balancer.address}/`;
const HAND_EDIT = '# tuned by hand at 3am';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', config], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'config-track-test' },
  });
}

async function memberStatus(member: string): Promise<string> {
  const out = await onHost(
    lab.balancer.host,
    `echo "show stat ${lab.balancer.haproxy.backend} 4 -1" | socat stdio ${lab.balancer.haproxy.socket} | ` +
      'cut -d, -f2,18',
  );
  return (
    out
      .split('\n')
      .find((l) => l.startsWith(`${member},`))
      ?.split(',')[1] ?? '?'
  );
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      told.push(JSON.parse(text));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/drift`;
  dir = mkdtempSync(join(tmpdir(), 'baton-track-lab-'));
  config = writeLabConfig(join(dir, 'baton.yml'), [
    [['track'], { repo: './snapshots', app: ['/srv/shop/shop.env', '/srv/shop/bin'], balancer: [HAPROXY_CFG] }],
    [['notify'], [{ url: receiverUrl, format: 'slack', events: ['drift'] }]],
  ]);
});

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('snapshot, drift and a plan made before a hand edit', () => {
  afterAll(async () => {
    await onHost(lab.balancer.host, `sed -i '/^${HAND_EDIT}$/d' ${HAPROXY_CFG}`);
  });

  it(
    'drift shows the edit as a diff and exits 5; ' + 'apply of the earlier plan refuses (exit 3) and changes nothing',
    async () => {
      const snap = await baton('snapshot');
      expect(snap.exitCode, snap.stderr).toBe(0);
      expect(snap.stdout).toMatch(/committed [0-9a-f]{12} to /);
      const clean = await baton('drift');
      expect(clean.exitCode, clean.stdout + clean.stderr).toBe(0);
      expect(clean.stdout).toMatch(/no drift: every host is as in snapshot/);
      expect(told).toEqual([]);

      const planFile = join(dir, 'push-v2.json');
      // Forced: on a lab already running v2 the plan would change nothing, and apply would have nothing to refuse.
      const plan = await baton('plan', 'v2', '-o', planFile, '--force', 'config-track test: a plan that changes hosts');
      expect(plan.exitCode, plan.stderr).toBe(0);

      await onHost(lab.balancer.host, `echo '${HAND_EDIT}' >> ${HAPROXY_CFG}`);
      const drift = await baton('drift', '--json');
      expect(drift.exitCode, drift.stderr).toBe(5);
      const report = JSON.parse(drift.stdout) as {
        hosts: { host: string; paths: { path: string; patch?: string }[] }[];
      };
      const lb = report.hosts.find((h) => h.host === lab.balancer.host)!;
      expect(lb.paths.map((p) => p.path)).toEqual([HAPROXY_CFG]);
      expect(lb.paths[0]!.patch).toContain(`+${HAND_EDIT}`);
      expect(report.hosts.filter((h) => h.host !== lab.balancer.host).every((h) => h.paths.length === 0)).toBe(true);
      // The drift found is told to the target that asked for it, once.
      expect(told).toEqual([{ text: `shop: 1 host differs from the last snapshot: ${lab.balancer.host}` }]);

      const before = await currentReleases();
      const apply = await baton('apply', planFile);
      expect(apply.exitCode, apply.stderr).toBe(3);
      expect(apply.stderr).toContain(`${lab.balancer.host}: changed ${HAPROXY_CFG}`);
      expect(apply.stderr).not.toMatch(/step (drain|stage)/);
      expect(await currentReleases()).toEqual(before);
    },
  );
});

describe('restore --run on a wiped app host', () => {
  const host = appHosts(lab).find((h) => h.cluster === 'a')!;
  const sibling = appHosts(lab).find((h) => h.cluster === 'a' && h.name !== host.name)!;

  afterAll(async () => {
    // The lab's pg client is no part of the app's configuration: put back what the wipe moved aside.
    await onHost(
      host.name,
      'if [ -d /srv/.baton-test-node_modules ]; then install -d -o deploy -g deploy /srv/shop && ' +
        'rm -rf /srv/shop/node_modules && mv /srv/.baton-test-node_modules /srv/shop/node_modules; fi',
    );
    readyAllHaproxyMembers();
  });

  it("brings it back on its cluster's release, into the pool, with 0 failed requests and 0 redispatches", async () => {
    const expected = (await currentReleases([sibling.name]))[sibling.name];
    const snap = await baton('snapshot');
    expect(snap.exitCode, snap.stderr).toBe(0);

    // The host dies: its service stops (the balancer's checks take it out), then its /srv/shop and the app's service
    // config go.
    await onHost(host.name, '/srv/shop/bin/shopctl stop');
    await until(`${host.member} is DOWN on the balancer`, async () =>
      (await memberStatus(host.member!)).startsWith('DOWN'),
    );
    await onHost(host.name, 'mv /srv/shop/node_modules /srv/.baton-test-node_modules && rm -rf /srv/shop');

    const runbook = await baton('restore', host.name);
    expect(runbook.exitCode, runbook.stderr).toBe(0);
    expect(runbook.stdout).toContain('`/srv/shop/bin/shopctl` (file 755 deploy:deploy)');
    expect(runbook.stdout).toContain(`Release: deploy \`${expected}\``);

    const counters = await balancerCounters(config);
    const load = startLoad({ url: PUBLIC, seconds: 600, concurrency: 16, timeout: 15_000 });
    const slow = startLoad({
      url: PUBLIC,
      seconds: 600,
      concurrency: 4,
      slowEvery: 1,
      slowPath: '/slow?ms=2000',
      timeout: 15_000,
    });
    await new Promise((r) => setTimeout(r, 1000));
    const r = await baton('restore', host.name, '--run', '--yes');
    await new Promise((r) => setTimeout(r, 1000));
    const [fast, held] = [await load.stop(), await slow.stop()];
    const after = await balancerCounters(config);

    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored the host with /);
    expect(fast.requests).toBeGreaterThan(100);
    expect({
      failed: fast.failed + held.failed,
      errors: { ...fast.connectionErrors, ...held.connectionErrors },
    }).toEqual({ failed: 0, errors: {} });
    expect({
      redispatches: after.redispatches - counters.redispatches,
      retries: after.retries - counters.retries,
    }).toEqual({ redispatches: 0, retries: 0 });
    expect((await currentReleases([host.name]))[host.name]).toBe(expected);
    expect(await onHost(host.name, 'stat -c %a /srv/shop/bin/shopctl')).toBe('755');
    await until(`${host.member} is UP on the balancer`, async () =>
      (await memberStatus(host.member!)).startsWith('UP'),
    );
    // The restored host is what the snapshot says it should be.
    const drift = await baton('drift', host.name);
    expect(drift.exitCode, drift.stdout).toBe(0);
  });
});

describe('restore --rehearse', () => {
  const idle = appHosts(lab).filter((h) => h.cluster === 'b');
  const serving = appHosts(lab).find((h) => h.cluster === 'a')!;
  const runtime = (commands: string) =>
    onHost(lab.balancer.host, `echo "${commands}" | socat stdio ${lab.balancer.haproxy.socket}`);

  afterAll(() => readyAllHaproxyMembers());

  it(
    'restores a host of the idle cluster and leaves it out of the pool; ' +
      'refuses one of the serving cluster (exit 3)',
    async () => {
      const refused = await baton('restore', serving.name, '--rehearse', '--yes');
      expect(refused.exitCode, refused.stderr).toBe(3);
      expect(refused.stderr).toMatch(/cluster a is in the pool: a rehearsal restores a host of the idle cluster/);

      await runtime(idle.map((h) => `set server ${lab.balancer.haproxy.backend}/${h.member} state drain`).join('; '));
      const r = await baton('restore', idle[0]!.name, '--rehearse', '--yes');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/rehearsal passed: .* it stays out of the pool with its cluster/);
      expect(r.stderr).not.toMatch(/step ready/);
      expect(await memberStatus(idle[0]!.member!)).toMatch(/^DRAIN/);
    },
  );
});
