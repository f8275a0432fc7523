// The push against the real lab: HAProxy on lb, four app hosts over real sshd, the lab app's git
// repository. Counts failed requests at the client under load, and reads the hosts back.
import { copyFileSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { currentReleases, onHost, readyAllHaproxyMembers } from './helpers/lab.js';
import { startLoad } from '../lab/load.js';

const LAB = '/run/baton-lab';
const LOCK = `/run/baton/push-test-${process.pid}/lock`;
let config: string;

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'push-test' } });
}

async function poolStates(): Promise<string> {
  return onHost('lb.baton.test', 'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock | cut -d, -f2,18');
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-push-')), 'baton.yml'), [[['lock', 'path'], LOCK]]);
  const r = await baton('push', 'v1', '-c', config);
  expect(r.exitCode, r.stderr).toBe(0);
});

describe('baton push against the lab', () => {
  it('pushes v1 → v2 under load with no failed request and leaves every host on v2', async () => {
    const load = startLoad({
      url: 'http://10.213.7.2/',
      seconds: 120,
      concurrency: 8,
      slowEvery: 10,
      slowPath: '/slow?ms=1000',
    });
    const r = await baton('push', 'v2', '-c', config, '--json');
    const report = await load.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'succeeded', tag: 'v2' });
    expect(report.failed, JSON.stringify(report.failures)).toBe(0);
    expect(report.requests).toBeGreaterThan(100);
    expect(report.byVersion['v2']).toBeGreaterThan(0);
    for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-[0-9a-f]{7}$/);
    expect(await poolStates()).not.toMatch(/DRAIN|MAINT/);
  });

  it(
    'reverses v3-broken by itself: ' + 'the public frontend keeps serving v2 and the journal shows the reversal',
    async () => {
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 120, concurrency: 8 });
      const r = await baton('push', 'v3-broken', '-c', config, '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(1);
      const result = JSON.parse(r.stdout).error.result as { outcome: string; failedStep: string; journal: string };
      expect(result.outcome).toBe('reversed');
      expect(result.failedStep).toMatch(/-a$/); // cluster a failed; cluster b was never touched
      expect(report.failed).toBe(0);
      expect(report.byVersion['v3-broken'] ?? 0).toBe(0);
      for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-/);
      const events = readJournal(result.journal);
      expect(events.some((e) => e.event === 'reversal-begin')).toBe(true);
      expect(
        events.filter((e) => e.event === 'step-ok' && e.phase === 'reverse').map((e) => ('step' in e ? e.step : '')),
      ).toContain('undo-activate-a');
      expect(events.some((e) => 'step' in e && e.step.endsWith('-b') && e.event === 'step-begin')).toBe(false);
    },
  );

  it('fails on a missing tag before any host changes', async () => {
    const before = { releases: await currentReleases(), pool: await poolStates() };
    const r = await baton('push', 'v9-nope', '-c', config);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/tag v9-nope does not exist/);
    expect(r.stderr).toMatch(/nearest existing tags: .*v\d/);
    expect({ releases: await currentReleases(), pool: await poolStates() }).toEqual(before);
  });

  it('refuses a host whose key is not in known_hosts, naming the host and its fingerprint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-kh-'));
    const knownHosts = join(dir, 'known_hosts');
    // Everything but the balancer's key.
    writeFileSync(
      knownHosts,
      readFileSync(`${LAB}/known_hosts`, 'utf8')
        .split('\n')
        .filter((l) => !l.includes('lb.baton.test') && !l.includes('10.213.7.2 '))
        .join('\n'),
    );
    const cfg = join(dir, 'baton.yml');
    copyFileSync(config, cfg);
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/knownHosts: .*/, `knownHosts: ${knownHosts}`));
    const r = await baton('push', 'v2', '-c', cfg);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/lb\.baton\.test/);
    expect(r.stderr).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
  });

  it(
    "as a deploy user outside the runtime socket's group: exit 1 before anything changes, " +
      'and the hint names the group',
    async () => {
      await onHost('lb.baton.test', 'chmod 600 /run/haproxy/admin.sock');
      try {
        const before = await currentReleases();
        const r = await baton('push', 'v2', '-c', config);
        expect(r.exitCode, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/admin\.sock.*Permission denied/);
        expect(r.stderr).toMatch(/Hint: the SSH user may not use the runtime socket: give it the socket's group/);
        expect(r.stderr).not.toMatch(/internal error/);
        expect(await currentReleases()).toEqual(before);
      } finally {
        await onHost('lb.baton.test', 'chmod 660 /run/haproxy/admin.sock');
      }
    },
  );

  it('refuses a second push while the lock is held, naming the holder', async () => {
    const holder = JSON.stringify({
      by: 'alice@ci',
      reason: 'push v7',
      tag: 'v7',
      run: 'other-run',
      since: new Date().toISOString(),
      expires: new Date(Date.now() + 600_000).toISOString(),
    });
    await execa('ssh', ['-F', `${LAB}/ssh_config`, 'lb.baton.test', `mkdir -p ${LOCK} && cat > ${LOCK}/details.json`], {
      input: holder,
    });
    try {
      const before = await currentReleases();
      const r = await baton('push', 'v1', '-c', config);
      expect(r.exitCode).toBe(4);
      expect(r.stderr).toMatch(/held by alice@ci/);
      expect(r.stderr).toMatch(/pushing v7/);
      expect(await currentReleases()).toEqual(before);
    } finally {
      await onHost('lb.baton.test', `rm -rf ${LOCK}`);
    }
  });
});
