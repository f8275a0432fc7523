// The recovery drill shared by the lab and fault suites: a push SIGKILLed once its journal shows k
// steps done, then resumed — and, in a separate run, rolled back. Each ends with the pool serving
// exactly one release, consistently.
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../../bench/lab-config.js';
import { startLoad, type LoadReport } from '../../lab/load.js';
import { loadConfig } from '../../../src/config/load.js';
import { killedPush } from './killed-push.js';
import { currentReleases, onHost, readyAllHaproxyMembers } from './lab.js';

/**
 * The lab as a recovery file starts it: every host on v1, then the public side under load (six clients, one request
 * in eight held 1 s) until the file ends, when no request may have failed. `config()` is the file's baton.yml.
 */
export function recoveryLab(folder: string) {
  let config = '';
  let load: { stop(): Promise<LoadReport> } | undefined;
  const baton = (...args: string[]) =>
    execa('node', ['bin/run.js', ...args, '-c', config], {
      reject: false,
      timeout: 90_000,
      env: { CI: '1', BATON_USER: 'recovery-test' },
    });
  beforeAll(async () => {
    readyAllHaproxyMembers();
    config = writeLabConfig(join(mkdtempSync(join(tmpdir(), folder)), 'baton.yml'));
    expect((await baton('push', 'v1')).exitCode).toBe(0);
    load = startLoad({
      url: 'http://10.213.7.2/',
      seconds: 3600,
      concurrency: 6,
      slowEvery: 8,
      slowPath: '/slow?ms=1000',
    });
  });
  afterAll(async () => {
    const report = await load?.stop();
    expect(report?.failed, JSON.stringify(report?.failures)).toBe(0);
    expect(report?.requests).toBeGreaterThan(1000);
  });
  return { config: () => config, baton };
}

/** Every host's release, every member's state, and what the public frontend answers. */
export async function production() {
  const releases = Object.values(await currentReleases());
  const pool = (
    await onHost(
      'lb.baton.test',
      'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock | cut -d, -f2,18 | tail -n +2',
    )
  ).split('\n');
  const answers = new Set<string>();
  for (let i = 0; i < 8; i++)
    answers.add(
      (JSON.parse((await execa('curl', ['-s', '-m', '5', 'http://10.213.7.2/version'])).stdout) as { version: string })
        .version,
    );
  return { releases: [...new Set(releases)], pool, answers: [...answers] };
}

export function expectServing(p: Awaited<ReturnType<typeof production>>, tag: string) {
  expect(p.releases, 'every host on one release').toHaveLength(1);
  expect(p.releases[0]).toMatch(new RegExp(`^${tag}-`));
  // "UP 1/2": in service, one health check missed (a host restarted a moment ago).
  expect(
    p.pool.every((l) => /,UP( \d+\/\d+)?$/.test(l)),
    p.pool.join(' '),
  ).toBe(true);
  expect(p.answers).toEqual([tag]);
}

// lock, drain-a, stage, wait-drain-a, activate-a, smoke-a, ready-a, drain-b, wait-drain-b, activate-b, smoke-b,
// ready-b, unlock
export const EVERY_STEP_BOUNDARY = Array.from({ length: 12 }, (_, i) => i + 1);

/**
 * Pushes killed once `boundaries` steps were done, each resumed, then each rolled back, with `config()`'s lab (every
 * host on v1 when the first case starts) under the caller's load.
 */
export function describeKilledPushes(
  config: () => string,
  baton: (...args: string[]) => ReturnType<typeof execa>,
  boundaries: number[],
) {
  describe('a push killed at a step boundary', () => {
    let tag = 'v1';
    // Rollbacks mark the release they leave bad; marks another file left would refuse these rollbacks.
    beforeAll(async () => {
      await onHost('lb.baton.test', `rm -f ${dirname((await loadConfig(config())).lock.path)}/shop.bad-releases`);
    });

    it.each(boundaries)('resumes after a kill once %i steps were done', async (k) => {
      const next = tag === 'v1' ? 'v2' : 'v1';
      await killedPush(config(), next, k);
      const status = await baton('resume');
      expect(status.exitCode, String(status.stderr)).toBe(0);
      expectServing(await production(), next);
      tag = next;
    });

    it.each(boundaries)('rolls back after a kill once %i steps were done', async (k) => {
      const next = tag === 'v1' ? 'v2' : 'v1';
      await killedPush(config(), next, k);
      const r = await baton('rollback', '--yes');
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expectServing(await production(), tag);
      // The killed run is over, also when there was nothing to undo (killed right after the lock).
      const again = await baton('resume');
      expect(again.exitCode).not.toBe(0);
      expect(again.stderr).toMatch(/nothing to resume/);
    });
  });
}
