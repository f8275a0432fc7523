// A whole push through the lab's nginx: the plan flips cluster a in and cluster b out in one
// reload, drains are read on the app hosts, and no request ever reaches a drained or restarting
// member (no 502, no timeout). Requests reset by nginx's reloads themselves are counted by the
// benchmark (npm run bench:push -- --driver nginx), not asserted here.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { startLoad } from '../lab/load.js';

const LAB = '/run/baton-lab';
let config: string;
let appHosts: string[];

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'push-nginx-test' } });
}

async function onHost(host: string, command: string): Promise<string> {
  return (await execa('ssh', ['-F', `${LAB}/ssh_config`, host, command])).stdout.trim();
}

beforeAll(async () => {
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-push-nginx-')), 'baton.yml'), driverOverrides('nginx'));
  appHosts = (JSON.parse(readFileSync(`${LAB}/lab.json`, 'utf8')) as { hosts: { name: string; role: string }[] }).hosts.filter((h) => h.role === 'app').map((h) => h.name);
  const r = await baton('push', 'v1', '-c', config);
  expect(r.exitCode, r.stderr).toBe(0);
});

describe('baton push through nginx', () => {
  it('pushes v1 → v2 under load with one reload per pool change (a flip between the clusters) and never sends a request to a drained member', async () => {
    const load = startLoad({ url: 'http://10.213.7.2:8088/', seconds: 120, concurrency: 8, slowEvery: 10, slowPath: '/slow?ms=1000' });
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
    console.log(`nginx push: ${report.requests} requests, ${report.failed} reset by nginx's 3 reloads (${report.failures.resetOnReusedConnection} on reused keep-alive connections), ${report.failedAfterRetry} after one retry`);
    for (const h of appHosts) expect(await onHost(h, 'basename "$(readlink /srv/shop/current)"')).toMatch(/^v2-[0-9a-f]{7}$/);
    expect(await onHost('lb.baton.test', 'cat /etc/nginx/baton-upstream.conf')).not.toMatch(/\bdown\b/);
  });
});
