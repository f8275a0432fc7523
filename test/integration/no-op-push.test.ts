// Issue 32 item 4 against the lab: a push of the release every host already runs and serves
// changes nothing ("No changes", exit 0: no run, no drain, every app process left running),
// `--force REASON` pushes anyway, and a partly-deployed fleet is pushed only where it differs.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { appHosts, currentReleases, onHost, readLab, readyAllHaproxyMembers } from './helpers/lab.js';
import { startLoad } from '../lab/load.js';

const LOCK = `/run/baton/noop-test-${process.pid}/lock`;
let dir: string;
let config: string;

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', config], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'noop-test' },
  });
}

/** Each app host's process id, as shopctl wrote it: a restart changes it. */
async function appPids(): Promise<Record<string, string>> {
  return Object.fromEntries(
    await Promise.all(
      appHosts(readLab()).map(async (h) => [h.name, await onHost(h.name, 'cat /srv/shop/run/shop.pid')] as const),
    ),
  );
}

async function poolStates(): Promise<string> {
  return onHost('lb.baton.test', 'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock | cut -d, -f2,18');
}

/** The runs in this config's record, newest first. */
async function runs(): Promise<{ run: string; command: string; tag: string; outcome: string }[]> {
  const r = await baton('history', '--json');
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { run: string; command: string; tag: string; outcome: string }[];
}

const clusterOf = (host: string) => appHosts(readLab()).find((h) => h.name === host)?.cluster;
const begun = (journal: string) => readJournal(journal).flatMap((e) => (e.event === 'step-begin' ? [e.step] : []));

beforeAll(async () => {
  readyAllHaproxyMembers();
  dir = mkdtempSync(join(tmpdir(), 'baton-noop-'));
  config = writeLabConfig(join(dir, 'baton.yml'), [[['lock', 'path'], LOCK]]);
  // Every host on v1 and in the pool, whatever an earlier file left (itself "No changes" when it already is).
  const r = await baton('push', 'v1');
  expect(r.exitCode, r.stderr).toBe(0);
  readyAllHaproxyMembers();
});

afterAll(async () => {
  await baton('unlock', '--force', '--reason', 'noop test clean-up', '--yes');
  await baton('push', 'v1');
});

describe('a push of the release every host already runs and serves', () => {
  it(
    'says "No changes" and exits 0 under load: no run, nothing drained, every app process id unchanged, ' +
      'the lock free',
    async () => {
      const before = {
        pids: await appPids(),
        releases: await currentReleases(),
        pool: await poolStates(),
        runs: await runs(),
      };
      expect(new Set(Object.values(before.releases)).size).toBe(1);
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 60, concurrency: 4 });
      const json = await baton('push', 'v1', '--json');
      const text = await baton('push', 'v1');
      const report = await load.stop();

      expect(json.exitCode, json.stderr).toBe(0);
      const result = JSON.parse(json.stdout) as Record<string, unknown>;
      expect(result).toMatchObject({
        changes: false,
        outcome: 'nothing-to-do',
        kind: 'push',
        tag: 'v1',
        clusters: ['a', 'b'],
        productionChanged: false,
      });
      expect(result.journal).toBeUndefined();
      expect(text.exitCode, text.stderr).toBe(0);
      expect(text.stdout).toMatch(
        /^No changes: every host of clusters a and b runs v1 \(commit [0-9a-f]{7}\) and serves; nothing to do\.$/m,
      );
      expect(text.stderr).not.toMatch(/step (lock|drain|stage|activate)/);

      expect(report.failed, JSON.stringify(report.failures)).toBe(0);
      expect(await appPids()).toEqual(before.pids);
      expect(await currentReleases()).toEqual(before.releases);
      expect(await poolStates()).toBe(before.pool);
      // No run was journaled: the record's newest run is the one before.
      expect((await runs())[0]?.run).toBe(before.runs[0]?.run);
      const status = JSON.parse((await baton('status', '--json')).stdout) as { lock: unknown };
      expect(status.lock).toEqual({ state: 'free' });
    },
  );

  it('plan -o writes a plan with no steps; apply of it says "No changes" and exits 0, changing nothing', async () => {
    const before = await appPids();
    const file = join(dir, 'noop-plan.json');
    const plan = await baton('plan', 'v1', '-o', file);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^No changes: every host of clusters a and b runs v1/m);
    const apply = await baton('apply', file, '--json');
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(JSON.parse(apply.stdout)).toMatchObject({ changes: false, outcome: 'nothing-to-do', tag: 'v1' });
    expect(await appPids()).toEqual(before);
  });

  it('with --force REASON pushes anyway: each cluster drained and restarted, the reason journaled', async () => {
    const before = await appPids();
    const r = await baton('push', 'v1', '--force', 'noop test: restart every host', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { changes: boolean; outcome: string; journal: string };
    expect(result).toMatchObject({ changes: true, outcome: 'succeeded', tag: 'v1' });
    expect(begun(result.journal)).toEqual(expect.arrayContaining(['drain-a', 'activate-a', 'drain-b', 'activate-b']));
    expect(begun(result.journal)).not.toContain('stage'); // v1 is on every host already
    const notes = readJournal(result.journal).flatMap((e) => (e.event === 'note' ? [e.message] : []));
    expect(notes).toContainEqual(
      expect.stringMatching(/^pushed whole by force \(noop-test\): noop test: restart every host/),
    );
    const after = await appPids();
    for (const host of Object.keys(before)) expect(after[host], `${host} was restarted`).not.toBe(before[host]);
    for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v1-[0-9a-f]{7}$/);
  });

  it('refuses --force without a reason (exit 64)', async () => {
    expect((await baton('push', 'v1', '--force', ' ')).exitCode).toBe(64);
  });
});

describe('a partly-deployed fleet', () => {
  it(
    'pushes only the cluster that differs: ' + 'the cluster already on the release is neither drained nor restarted',
    async () => {
      // Cluster a on v2, cluster b on v1, both in the pool and nothing held: a held push whose lock is then let go.
      const held = await baton('push', 'v2', '--hold');
      expect(held.exitCode, held.stderr).toBe(0);
      const unlocked = await baton('unlock', '--force', '--reason', 'noop test: leave cluster a on v2', '--yes');
      expect(unlocked.exitCode, unlocked.stderr).toBe(0);
      readyAllHaproxyMembers();
      const releases = await currentReleases();
      for (const [host, release] of Object.entries(releases))
        expect(release).toMatch(clusterOf(host) === 'a' ? /^v2-/ : /^v1-/);
      const before = await appPids();

      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 120, concurrency: 4 });
      const r = await baton('push', 'v2', '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { outcome: string; journal: string };
      expect(result.outcome).toBe('succeeded');
      expect(report.failed, JSON.stringify(report.failures)).toBe(0);
      const steps = begun(result.journal);
      expect(steps).toContain('drain-b');
      expect(steps.filter((s) => s.endsWith('-a'))).toEqual([]);
      const after = await appPids();
      for (const host of Object.keys(before)) {
        if (clusterOf(host) === 'a') expect(after[host], `${host} (cluster a) kept running`).toBe(before[host]);
        else expect(after[host], `${host} (cluster b) was restarted`).not.toBe(before[host]);
      }
      for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-[0-9a-f]{7}$/);
      expect(await poolStates()).not.toMatch(/DRAIN|MAINT/);
    },
  );
});
