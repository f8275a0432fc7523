import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, type HttpCheck, httpRequest, judge, runHttpCheck } from '../../src/checks/http.js';

// A real server on loopback: the checker is what is under test.
let handler: http.RequestListener = (_req, res) => res.end('ok');
const server = http.createServer((req, res) => handler(req, res));
let port = 0;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const pin = { 'prod-a.baton.test': '127.0.0.1' };
const target = () => ({ name: 'prod-a.baton.test', baseUrl: `http://prod-a.baton.test:${port}` });
const soon = (ms: number) => ({ deadline: Date.now() + ms, resolve: pin });

describe('httpRequest', () => {
  it('connects to the pinned address and sends the original Host header', async () => {
    let host: string | undefined;
    handler = (req, res) => {
      host = req.headers.host;
      res.setHeader('X-Version', 'v2');
      res.end('hello');
    };
    const a = await httpRequest(`http://prod-a.baton.test:${port}/x?y=1`, { resolve: pin, timeoutMs: 1000 });
    expect(host).toBe(`prod-a.baton.test:${port}`);
    expect(a).toMatchObject({ status: 200, body: 'hello', headers: { 'x-version': 'v2' } });
  });

  it('rejects with the connection error', async () => {
    await expect(httpRequest('http://127.0.0.1:1/', { timeoutMs: 1000 })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});

describe('judge', () => {
  const a = {
    status: 200,
    headers: { 'x-version': 'v2', 'content-type': 'text/plain' },
    body: 'Welcome to v2',
    ms: 40,
  };
  it('passes what matches', () => {
    expect(
      judge(
        { path: '/', status: 200, contains: 'Welcome', matches: 'v\\d', header: { 'X-Version': 'v2' }, maxMs: 100 },
        a,
      ),
    ).toBeUndefined();
  });
  it('says everything that is wrong', () => {
    expect(
      judge(
        {
          path: '/',
          status: 204,
          contains: 'nope',
          matches: '^v3',
          header: { 'X-VERSION': 'v3', 'X-Host': 'a' },
          maxMs: 10,
        },
        a,
      ),
    ).toBe(
      'status 200, expected 204; body does not contain "nope"; body does not match /^v3/; ' +
        'header X-VERSION is "v2", expected "v3"; no X-Host header, expected "a"; took 40 ms, ' +
        'at most 10 ms allowed',
    );
  });
});

describe('runHttpCheck', () => {
  it('passes on the first attempt', async () => {
    handler = (_req, res) => res.end('Welcome');
    const r = await runHttpCheck({ path: '/', contains: 'Welcome' }, target(), soon(2000));
    expect(r).toMatchObject({ ok: true, status: 200, attempts: 1, target: 'prod-a.baton.test', check: 'GET /' });
  });

  it.each([
    [{ path: '/', status: 201 }, 'status 200, expected 201'],
    [{ path: '/', contains: 'nope' }, 'body does not contain "nope"'],
    [{ path: '/', matches: '^Bye' }, 'body does not match /^Bye/'],
    [{ path: '/', header: { 'x-version': 'v3' } }, 'header x-version is "v2", expected "v3"'],
    [{ path: '/', maxMs: 20 }, 'at most 20 ms allowed'],
  ] as [HttpCheck, string][])('fails %j naming check, target and what came back', async (check, why) => {
    handler = (_req, res) => {
      res.setHeader('X-Version', 'v2');
      setTimeout(() => res.end('Welcome to '.padEnd(400, 'x')), check.maxMs ? 60 : 0);
    };
    const r = await runHttpCheck(check, target(), soon(300));
    expect(r.ok).toBe(false);
    expect(r.status).toBe(200);
    expect(r.detail).toContain(why);
    expect(r.detail).toContain(`body: "Welcome to ${'x'.repeat(189)}"`); // first 200 chars
    expect(r.attempts).toBeGreaterThan(1);
    const line = describeFailure(r);
    expect(line).toMatch(
      new RegExp(
        `^GET / on prod-a\\.baton\\.test \\(http://prod-a\\.baton\\.test:${port}/\\) failed after \\d+ attempts: `,
      ),
    );
    expect(line).toMatch(/got 200 in \d+ ms/);
  });

  it('retries with growing sleeps until the server becomes healthy', async () => {
    const seen: number[] = [];
    const healthyAt = Date.now() + 600;
    handler = (_req, res) => {
      seen.push(Date.now());
      res.statusCode = Date.now() < healthyAt ? 503 : 200;
      res.end(String(res.statusCode));
    };
    const r = await runHttpCheck({ path: '/healthz' }, target(), soon(5000));
    expect(r.ok).toBe(true);
    expect(r.attempts).toBe(seen.length);
    expect(r.attempts).toBeGreaterThanOrEqual(4);
    const gaps = seen.slice(1).map((t, i) => t - (seen[i] as number));
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!); // 100, 150, 225, …
  });

  it('stops at the deadline with the last answer', async () => {
    handler = (_req, res) => {
      res.statusCode = 503;
      res.end('starting up');
    };
    const t0 = Date.now();
    const r = await runHttpCheck({ path: '/healthz' }, target(), soon(800));
    expect(Date.now() - t0).toBeLessThan(1300);
    expect(r).toMatchObject({ ok: false, status: 503 });
    expect(r.detail).toContain('status 503, expected 200; got 503');
    expect(r.detail).toContain('body: "starting up"');
  });

  it('reports a connection error with the time it took', async () => {
    const r = await runHttpCheck({ path: '/' }, { name: 'web-9', baseUrl: 'http://127.0.0.1:1' }, soon(250));
    expect(r.ok).toBe(false);
    expect(r.status).toBeUndefined();
    expect(r.detail).toMatch(/^no answer after \d+ ms: .*ECONNREFUSED/);
  });

  it('ends a hung request at the deadline', async () => {
    handler = () => undefined;
    const t0 = Date.now();
    const r = await runHttpCheck({ path: '/' }, target(), soon(600));
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(r.detail).toMatch(/timed out after \d+ ms/);
  });
});
