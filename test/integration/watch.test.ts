// The post-flip watch against each real balancer: v5-writes-fail passes its health and smoke
// checks, but every POST /write answers 500. Only the watch can catch it, from the balancer's
// own counts (HAProxy's backend stats, Apache's and nginx's access logs), and the push must then
// reverse by itself. A good release under the same watch goes through.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, type LabDriver, publicPort, writeLabConfig } from '../../bench/lab-config.js';
import { startLoad } from '../lab/load.js';
import { currentReleases, readyAllHaproxyMembers } from './helpers/lab.js';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], {
    reject: false,
    timeout: 120_000,
    env: { CI: '1', BATON_USER: 'watch-test' },
  });
}

async function releases(): Promise<string[]> {
  return [...new Set(Object.values(await currentReleases()))];
}

describe.each(['haproxy', 'apache', 'nginx'] as const)('the watch through %s', (driver: LabDriver) => {
  let config: string;
  const url = `http://10.213.7.2:${publicPort(driver)}/`;

  beforeAll(async () => {
    if (driver === 'haproxy') readyAllHaproxyMembers();
    config = writeLabConfig(join(mkdtempSync(join(tmpdir(), `baton-watch-${driver}-`)), 'baton.yml'), [
      ...driverOverrides(driver),
      [['watch'], { duration: '5s', max5xxRatio: 0.02 }],
    ]);
    const r = await baton('push', 'v1', '-c', config);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it(
    'reverses a release whose writes fail once the watch sees the 5xx share rise, ' + 'back on the release before',
    async () => {
      const load = startLoad({ url, seconds: 300, concurrency: 8, writeEvery: 5 });
      const r = await baton('push', 'v5-writes-fail', '-c', config, '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(1);
      const error = JSON.parse(r.stdout).error as { message: string; result: { outcome: string; failedStep: string } };
      expect(error.result).toMatchObject({ outcome: 'reversed', failedStep: 'watch-a' });
      expect(error.message).toMatch(/requests answered 5xx after the flip/);
      // The writes cluster a answered while it served are the 500s the watch saw; none after.
      expect(report.failures.non2xx).toBeGreaterThan(0);
      expect(await releases()).toEqual([expect.stringMatching(/^v1-/)]);
    },
  );

  it('lets a good release through the same watch', async () => {
    const load = startLoad({ url, seconds: 300, concurrency: 8, writeEvery: 5 });
    const r = await baton('push', 'v2', '-c', config, '--json');
    const report = await load.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'succeeded' });
    expect(report.failures.non2xx).toBe(0);
    expect(await releases()).toEqual([expect.stringMatching(/^v2-/)]);
  });
});
