import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterTargets, runSmoke, smokeCluster, smokeFailures } from '../../src/checks/smoke.js';

// Two "hosts" on loopback; host B serves a broken release.
const hits: string[] = [];
const serve = (version: string) =>
  http.createServer((req, res) => {
    hits.push(`${version} ${req.headers.host} ${req.url}`);
    res.setHeader('X-Version', version);
    res.end(req.url === '/healthz' ? 'ok' : `Welcome to ${version}`);
  });
const good = serve('v2');
const broken = serve('v3-broken');
let goodPort = 0;
let brokenPort = 0;
beforeAll(async () => {
  await new Promise<void>((r) => good.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  goodPort = (good.address() as AddressInfo).port;
  brokenPort = (broken.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => good.close(r));
  await new Promise((r) => broken.close(r));
});

describe('clusterTargets', () => {
  it('checks through the internal name and each host at its member port', () => {
    expect(
      clusterTargets({ internal: 'prod-a.example.com' }, [{ host: 'web-1', port: 8000 }, { host: 'web-2' }]),
    ).toEqual([
      { name: 'prod-a.example.com', baseUrl: 'http://prod-a.example.com' },
      { name: 'web-1', baseUrl: 'http://web-1:8000' },
      { name: 'web-2', baseUrl: 'http://web-2:80' },
    ]);
  });
});

describe('runSmoke', () => {
  it('runs every check on every target and passes when all pass', async () => {
    hits.length = 0;
    const report = await runSmoke(
      [{ path: '/healthz' }, { path: '/', contains: 'Welcome', header: { 'x-version': 'v2' } }],
      [
        { name: 'prod-a.baton.test', baseUrl: `http://prod-a.baton.test:${goodPort}` },
        { name: 'web-1', baseUrl: `http://web-1:${goodPort}` },
      ],
      { deadlineMs: 2000, resolve: { 'prod-a.baton.test': '127.0.0.1', 'web-1': '127.0.0.1' } },
    );
    expect(report.ok).toBe(true);
    expect(report.results).toHaveLength(4);
    expect(hits).toContain(`v2 prod-a.baton.test:${goodPort} /healthz`);
    expect(smokeFailures(report)).toEqual([]);
  });

  it('fails naming the host that serves the wrong thing', async () => {
    const config = {
      smoke: {
        checks: [{ path: '/', method: 'GET' as const, status: 200, header: { 'X-Version': 'v2' } }],
        deadlineMs: 400,
      },
      resolve: { 'web-1': '127.0.0.1', 'web-2': '127.0.0.1', 'prod-b.baton.test': '127.0.0.1' },
      clusters: { b: { internal: `prod-b.baton.test:${goodPort}` } },
    };
    const report = await smokeCluster(config, 'b', [
      { host: 'web-1', port: goodPort },
      { host: 'web-2', port: brokenPort },
    ]);
    expect(report.ok).toBe(false);
    expect(report.results.map((r) => [r.target, r.ok])).toEqual([
      [`prod-b.baton.test:${goodPort}`, true],
      ['web-1', true],
      ['web-2', false],
    ]);
    const [line] = smokeFailures(report);
    expect(line).toContain(`GET / on web-2 (http://web-2:${brokenPort}/) failed`);
    expect(line).toContain('header X-Version is "v3-broken", expected "v2"');
    expect(line).toContain('body: "Welcome to v3-broken"');
  });
});
