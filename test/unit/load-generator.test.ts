// The lab's load generator is the measuring stick of every zero-downtime figure, so what it
// calls a failure is tested here against a local server that closes keep-alive connections
// the way a reloading nginx does: as the client's next request arrives.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startLoad } from '../lab/load.js';

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Answers every request except the second on each connection, which it resets unanswered. */
async function serverResettingSecondRequest(): Promise<string> {
  const served = new WeakMap<object, number>();
  server = http.createServer((req, res) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n === 2) {
      req.socket.resetAndDestroy();
      return;
    }
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function run(url: string, opts: { writeEvery?: number; keepAlive?: boolean }) {
  const load = startLoad({ url, seconds: 3600, concurrency: 1, timeout: 2000, ...opts });
  // Enough requests for several connections to reach their second one, however busy the machine is.
  const deadline = Date.now() + 10_000;
  do await new Promise((r) => setTimeout(r, 100));
  while (load.requestsSoFar() < 8 && Date.now() < deadline);
  return load.stop();
}

describe('load generator', () => {
  it(
    'counts a GET reset on a reused keep-alive connection as failed, ' +
      'and what a retrying client sees after resending it once on a new connection',
    async () => {
      const r = await run(await serverResettingSecondRequest(), {});
      expect(r.requests).toBeGreaterThan(2);
      expect(r.failures.resetOnReusedConnection).toBeGreaterThan(0);
      expect(r.failed).toBe(r.failures.resetOnReusedConnection);
      expect(r.failures.connection).toBe(r.failed);
      expect(r.connectionErrors).toEqual({ 'ECONNRESET (reused)': r.failed });
      expect(r.failedAfterRetry).toBe(0);
      expect(r.ok).toBe(r.requests);
    },
  );

  it('never resends a write: a POST reset on a reused connection stays failed', async () => {
    const r = await run(await serverResettingSecondRequest(), { writeEvery: 1 });
    expect(r.failures.resetOnReusedConnection).toBeGreaterThan(0);
    expect(r.failedAfterRetry).toBe(r.failed);
    expect(r.ok).toBe(r.requests - r.failed);
  });

  it('without keep-alive every request has its own connection, so nothing is reused or reset', async () => {
    const r = await run(await serverResettingSecondRequest(), { keepAlive: false });
    expect(r.requests).toBeGreaterThan(2);
    expect(r.failed).toBe(0);
    expect(r.failures.resetOnReusedConnection).toBe(0);
  });
});
