// A whole push through the lab's nginx: the plan flips cluster a in and cluster b out in one
// reload, drains are read on the app hosts, and no request ever reaches a drained or restarting
// member (no 502, no timeout). Requests reset by nginx's reloads themselves are counted by the
// benchmark (npm run bench:push -- --driver nginx), not asserted here.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { startLoad } from '../lab/load.js';
import { killedPush } from './helpers/killed-push.js';
import { appHostNames, currentReleases, onHost } from './helpers/lab.js';

let config: string;
let appHosts: string[];

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'push-nginx-test' } });
}

/** Every host's release, nginx's upstream file, and which hosts answer through nginx on what. */
async function production() {
  const releases = new Set(Object.values(await currentReleases()));
  const file = await onHost('lb.baton.test', 'cat /etc/nginx/baton-upstream.conf');
  const answers = new Set<string>();
  const servedBy = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const r = await execa('curl', ['-s', '-m', '5', '-D', '-', 'http://10.213.7.2:8088/version']);
    answers.add((JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { version: string }).version);
    servedBy.add(/^x-host: (\S+)/im.exec(r.stdout)?.[1] ?? '?');
  }
  return { releases: [...releases], file, answers: [...answers], servedBy: [...servedBy].sort() };
}

function expectServing(p: Awaited<ReturnType<typeof production>>, tag: string) {
  expect(p.releases).toHaveLength(1);
  expect(p.releases[0]).toMatch(new RegExp(`^${tag}-`));
  expect(p.file).not.toMatch(/\bdown\b/);
  expect(p.answers).toEqual([tag]);
  // nginx runs what the file says: every member takes requests again.
  expect(p.servedBy).toEqual([...appHosts].sort());
}

beforeAll(async () => {
  config = writeLabConfig(
    join(mkdtempSync(join(tmpdir(), 'baton-push-nginx-')), 'baton.yml'),
    driverOverrides('nginx'),
  );
  appHosts = appHostNames();
  const r = await baton('push', 'v1', '-c', config);
  expect(r.exitCode, r.stderr).toBe(0);
});

describe('baton push through nginx', () => {
  it(
    'pushes v1 → v2 under load with one reload per pool change (a flip between the clusters) ' +
      'and never sends a request to a drained member',
    async () => {
      const load = startLoad({
        url: 'http://10.213.7.2:8088/',
        seconds: 120,
        concurrency: 8,
        slowEvery: 10,
        slowPath: '/slow?ms=1000',
      });
      const r = await baton('push', 'v2', '-c', config, '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { outcome: string; journal: string };
      expect(result.outcome).toBe('succeeded');
      const steps = readJournal(result.journal).flatMap((e) => (e.event === 'step-ok' && 'step' in e ? [e.step] : []));
      expect(steps.filter((s) => /^(drain|ready|flip)-/.test(s))).toEqual(['drain-a', 'flip-a', 'ready-b']);
      // A 502 or a timeout would mean nginx sent a request to a member being drained or restarted.
      expect(report.failures.non2xx).toBe(0);
      expect(report.failures.timeout).toBe(0);
      expect(report.byVersion['v2']).toBeGreaterThan(0);
      console.log(
        `nginx push: ${report.requests} requests, ${report.failed}` +
          ` reset by nginx's 3 reloads (${report.failures.resetOnReusedConnection} on reused keep-alive ` +
          `connections), ${report.failedAfterRetry} after one retry`,
      );
      for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-[0-9a-f]{7}$/);
      expect(await onHost('lb.baton.test', 'cat /etc/nginx/baton-upstream.conf')).not.toMatch(/\bdown\b/);
    },
  );

  // Killed right after smoke-a: during or just before the flip (6 steps done: lock, drain-a,
  // stage, wait-drain-a, activate-a, smoke-a).
  it(
    'resumes a push killed at the flip: ' + 'nginx ends up running what its file says, every host on the new release',
    async () => {
      await killedPush(config, 'v1', 6, 'push-nginx-test');
      const r = await baton('resume', '-c', config);
      expect(r.exitCode, r.stderr).toBe(0);
      expectServing(await production(), 'v1');
    },
  );

  it(
    'rolls back a push killed right after the flip: ' + 'back on the release before, both clusters in the pool',
    async () => {
      await killedPush(config, 'v2', 7, 'push-nginx-test');
      const r = await baton('rollback', '--yes', '-c', config);
      expect(r.exitCode, r.stderr).toBe(0);
      expectServing(await production(), 'v1');
    },
  );

  it('rolls back a finished push cold (no cluster runs the release before) with a flip: three reloads', async () => {
    expect((await baton('push', 'v2', '-c', config)).exitCode).toBe(0);
    const r = await baton('rollback', '--yes', '--json', '-c', config);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { journal: string; warm: boolean };
    expect(result.warm).toBe(false);
    const steps = readJournal(result.journal).flatMap((e) => (e.event === 'step-ok' && 'step' in e ? [e.step] : []));
    expect(steps.filter((s) => /^(drain|ready|flip)-/.test(s))).toEqual(['drain-a', 'flip-a', 'ready-b']);
    expectServing(await production(), 'v1');
  });
});
