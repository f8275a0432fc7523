// Preflight against the lab's real HAProxy and hosts, under the push benchmark's load: a push is
// refused (exit 6, nothing changed) when the cluster left serving would run above the utilisation
// limit, with the numbers and where each came from; and when the app's process limit × its
// resident size would not fit a host's memory. With room to spare, it passes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, writeLabConfig } from '../../bench/lab-config.js';
import { startLoad, type LoadReport } from '../lab/load.js';
import { currentReleases, readLab, readyAllHaproxyMembers } from './helpers/lab.js';

const lab = readLab();
const PUBLIC = `http://${lab.balancer.address}/`;
const PID_FILE = '/srv/shop/run/shop.pid';

// Preflight refuses a push that changes something; the lab may run v2 already ("No changes", which nothing refuses).
const FORCED = 'preflight test: a push whatever the lab runs';

function configWith(name: string, capacity: Record<string, unknown>): string {
  return writeLabConfig(join(mkdtempSync(join(tmpdir(), `baton-preflight-${name}-`)), 'baton.yml'), [
    [['capacity'], capacity],
  ]);
}

function baton(config: string, ...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', config], {
    reject: false,
    timeout: 120_000,
    env: { CI: '1', BATON_USER: 'preflight-test' },
  });
}

const loads: { stop(): Promise<LoadReport> }[] = [];
beforeAll(async () => {
  readyAllHaproxyMembers();
  loads.push(startLoad({ url: PUBLIC, seconds: 600, concurrency: 16, timeout: 15_000 }));
  loads.push(
    startLoad({ url: PUBLIC, seconds: 600, concurrency: 4, slowEvery: 1, slowPath: '/slow?ms=2000', timeout: 15_000 }),
  );
  await new Promise((r) => setTimeout(r, 1500));
});
afterAll(async () => {
  const reports = await Promise.all(loads.map((l) => l.stop()));
  // Preflight only reads: the public side never noticed it.
  expect(reports.reduce((n, r) => n + r.failed, 0)).toBe(0);
});

describe('preflight under load', () => {
  it(
    'refuses as the deploy user (exit 6) what it may not run or write, naming the sudoers line and the folder, ' +
      'and changes nothing',
    async () => {
      // apachectl is not in the lab's sudoers file (apache2ctl is), and /var/lib is root's.
      const overrides = driverOverrides('apache');
      const apache = overrides.find(([path]) => path[0] === 'balancer')![1] as Record<string, unknown>;
      const config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-preflight-access-')), 'baton.yml'), [
        ...overrides.filter(([path]) => path[0] !== 'balancer'),
        [['balancer'], { ...apache, ctl: 'apachectl' }],
        [['lock', 'path'], '/var/lib/baton-lab-not-yours/lock'],
      ]);
      const before = await currentReleases();
      const r = await baton(config, 'push', 'v2', '--force', FORCED);
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stderr).toContain(
        'lb.baton.test: deploy may not run `apachectl configtest` through sudo -n (sudoers does not allow it); ' +
          'sudoers needs: deploy ALL=(root) NOPASSWD: /usr/sbin/apachectl configtest',
      );
      expect(r.stderr).toContain(
        'lb.baton.test: deploy may not write the release lock (lock.path): /var/lib is not writable by it',
      );
      expect(r.stderr).toMatch(/Hint: .*sudoers/);
      expect(r.stderr).not.toContain('lower the load');
      expect(r.stderr).not.toMatch(/step (lock|drain|stage)/);
      expect(await currentReleases()).toEqual(before);
    },
  );

  it(
    'refuses a push the cluster left serving could not carry at the utilisation limit (exit 6), ' +
      'naming each number, and changes nothing',
    async () => {
      // Each host carries far less than the load: whichever cluster is drained, the other would run far above 70%.
      const config = configWith('capacity', { perHost: { requestsPerSecond: 20 }, sampleFor: '1s' });
      const before = await currentReleases();
      const r = await baton(config, 'push', 'v2', '--force', FORCED);
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stdout + r.stderr).toMatch(
        new RegExp(
          /while cluster a is drained, cluster b \(2 hosts\) would carry [\d,.]+ req\/s \(measured at the /.source +
            /balancer over 1(\.\d+)? ?s\): [\d,.]+ a host, [\d,.]+% of the 20 req\/s one host carries /.source +
            /\(capacity\.perHost\.requestsPerSecond, baton\.yml\); the limit is 70% \(capacity\.utilisation\)/.source,
        ),
      );
      expect(r.stderr).not.toMatch(/step (drain|stage)/);
      expect(await currentReleases()).toEqual(before);

      const check = await baton(config, 'preflight', 'v2', '--json');
      expect(check.exitCode).toBe(6);
    },
  );

  it("refuses when the process limit × the resident size of one process exceeds a host's memory (exit 6)", async () => {
    const config = configWith('memory', { memory: { pidFile: PID_FILE, processLimit: 1000 } });
    const r = await baton(config, 'preflight', 'v2');
    expect(r.exitCode, r.stdout + r.stderr).toBe(6);
    expect(r.stdout).toMatch(
      new RegExp(
        /^REFUSED\s+memory\s+web-1\.prod-a\.baton\.test: 1000 processes \(capacity\.memory\.processLimit, /m.source +
          /baton\.yml\) × [\d.]+ MiB resident .* more than the [\d.]+ MiB \(MemTotal, \/proc\/meminfo\) the /m.source +
          /host has/m.source,
        'm',
      ),
    );
  });

  it('passes with room to spare: memory within the host, capacity within the limit', async () => {
    const config = configWith('room', {
      perHost: { requestsPerSecond: 1_000_000, concurrency: 10_000 },
      memory: { pidFile: PID_FILE, processLimit: 4 },
    });
    const r = await baton(config, 'preflight', 'v2');
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+memory\s+web-1\.prod-a\.baton\.test: /m);
    expect(r.stdout).toMatch(/^ok\s+capacity\s+while cluster b is drained, cluster a \(2 hosts\)/m);
    expect(r.stdout).toMatch(/preflight passed/);
  });
});
