// A whole push through the lab's reload-free nginx (balancer.mode: lua, :8090): every pool change
// is the state file rewritten and loaded by the Lua side — nginx never reloads, so its workers
// (and every client's keep-alive connection) live through the push, and no request fails.
// Figures under heavier load: npm run bench:push -- --driver nginx-lua.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, writeLabConfig } from '../../bench/lab-config.js';
import { startLoad } from '../lab/load.js';
import { currentReleases, onHost } from './helpers/lab.js';

let config: string;

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'push-nginx-lua-test' } });
}

/** nginx's master and worker pids: a reload replaces the workers. */
const nginxProcesses = () =>
  onHost(
    'lb.baton.test',
    'm=$(cat /run/nginx.pid); echo "$m $(ps --ppid "$m" -o pid= | sort -n | tr -d " " | tr "\\n" " ")"',
  );

beforeAll(async () => {
  config = writeLabConfig(
    join(mkdtempSync(join(tmpdir(), 'baton-push-nginx-lua-')), 'baton.yml'),
    driverOverrides('nginx-lua'),
  );
  const r = await baton('push', 'v1', '-c', config);
  expect(r.exitCode, r.stderr).toBe(0);
});

describe('baton push through nginx without reloads (mode: lua)', () => {
  it('pushes v1 → v2 under keep-alive load with 0 failed requests, and nginx never reloads', async () => {
    const before = await nginxProcesses();
    const load = startLoad({
      url: 'http://10.213.7.2:8090/',
      seconds: 120,
      concurrency: 8,
      slowEvery: 10,
      slowPath: '/slow?ms=1000',
    });
    const r = await baton('push', 'v2', '-c', config, '--json');
    const report = await load.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(report.failed, JSON.stringify(report)).toBe(0);
    expect(report.byVersion['v1']).toBeGreaterThan(0);
    expect(report.byVersion['v2']).toBeGreaterThan(0);
    for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-/);
    expect(await nginxProcesses()).toBe(before);
    const state = JSON.parse(await onHost('lb.baton.test', 'cat /etc/nginx/baton-upstreams.json')) as Record<
      string,
      { state: string }[]
    >;
    expect(state['web_lua']?.every((m) => m.state === 'ready')).toBe(true);
  });

  it('reverses v3-broken by itself with 0 failed requests', async () => {
    const load = startLoad({ url: 'http://10.213.7.2:8090/', seconds: 120, concurrency: 8 });
    const r = await baton('push', 'v3-broken', '-c', config, '--json');
    const report = await load.stop();
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error.result.outcome).toBe('reversed');
    expect(report.failed, JSON.stringify(report)).toBe(0);
    expect(report.byVersion['v3-broken'] ?? 0).toBe(0);
    for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-/);
    const served = await execa('curl', ['-fsS', 'http://10.213.7.2:8090/version']);
    expect(served.stdout).toContain('"version":"v2"');
  });
});
