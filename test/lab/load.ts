// Load generator for the lab: keeps `concurrency` keep-alive clients busy against one URL,
// mixing normal, slow and write requests, and counts every failure by kind. A push that drops
// even one request shows up here. Node built-ins only, so it runs anywhere the build runs.
//
// `failed` is what a client that never retries sees. A request reset on a reused keep-alive
// connection before any answer byte (a server closing the connection as the request arrived:
// nginx < 1.27.4 does so to every idle client connection at each reload) is counted apart
// and, if idempotent, sent once more on a new connection — what browsers, Go, curl and Node's
// documented `reusedSocket` pattern do (RFC 9112 §9.3.1) — so `failedAfterRetry` is what those
// clients see. Writes are never retried.
import http from 'node:http';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface LoadOptions {
  url: string;
  seconds: number;
  concurrency?: number;
  /** Every Nth request goes to slowPath (0: never). */
  slowEvery?: number;
  slowPath?: string;
  /** Every Nth request is a POST /write (0: never). */
  writeEvery?: number;
  /** Per-request timeout in ms. */
  timeout?: number;
  /** Host header to send (e.g. prod-a.baton.test for a cluster frontend). */
  host?: string;
  /** Reuse connections (default true); false opens one connection per request. */
  keepAlive?: boolean;
}

export interface LoadReport {
  requests: number;
  ok: number;
  /** Requests whose first attempt failed: what a client that never retries sees. */
  failed: number;
  /** resetOnReusedConnection is part of connection. */
  failures: { connection: number; non2xx: number; timeout: number; resetOnReusedConnection: number };
  /** Requests still failed after one retry of an idempotent request reset on a reused connection. */
  failedAfterRetry: number;
  /** Connection failures by error code, `(reused)` when on a keep-alive connection an earlier request used. */
  connectionErrors: Record<string, number>;
  byVersion: Record<string, number>;
  byHost: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  seconds: number;
}

// Lab rule: traffic only to loopback or the lab subnet, and to the subnet only while its bridge
// exists (otherwise the unreachable route answers, but we would rather say why).
export function checkTarget(url: URL): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || host.startsWith('127.')) return;
  if (isIP(host) === 4 && host.startsWith('10.213.7.')) {
    if (!existsSync('/sys/class/net/baton0')) throw new Error('lab bridge baton0 is missing: is the lab up?');
    return;
  }
  throw new Error(`load target ${host} is neither loopback nor a lab address (10.213.7.0/24)`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

type Outcome = {
  kind: 'ok' | 'non2xx' | 'connection' | 'timeout';
  version?: string;
  host?: string;
  resetOnReused?: boolean;
  error?: string;
};

function request(agent: http.Agent | false, url: URL, path: string, method: string, o: LoadOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (o.host) headers.host = o.host;
    let settled = false;
    const done = (r: Outcome) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = http.request({ agent, hostname: url.hostname, port: url.port || 80, path, method, headers }, (res) => {
      const version = res.headers['x-version'];
      const host = res.headers['x-host'];
      res.resume();
      res.on('end', () => {
        const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        done({
          kind: ok ? 'ok' : 'non2xx',
          version: typeof version === 'string' ? version : undefined,
          host: typeof host === 'string' ? host : undefined,
        });
      });
      res.on('error', () => done({ kind: 'connection' }));
    });
    let answered = false;
    req.on('response', () => (answered = true));
    req.setTimeout(o.timeout ?? 10_000, () => {
      done({ kind: 'timeout' });
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Reset before any answer on a connection an earlier request used: the server had closed it.
      const resetOnReused = req.reusedSocket && !answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      done({
        kind: 'connection',
        resetOnReused,
        error: `${err.code ?? err.message}${req.reusedSocket ? ' (reused)' : ''}`,
      });
    });
    req.end(method === 'POST' ? 'x=1\n' : undefined);
  });
}

export function startLoad(opts: LoadOptions): { stop(): Promise<LoadReport>; requestsSoFar(): number } {
  const url = new URL(opts.url);
  checkTarget(url);
  const agent = new http.Agent({ keepAlive: opts.keepAlive ?? true, maxSockets: opts.concurrency ?? 16 });
  const report: LoadReport = {
    requests: 0,
    ok: 0,
    failed: 0,
    failures: { connection: 0, non2xx: 0, timeout: 0, resetOnReusedConnection: 0 },
    failedAfterRetry: 0,
    connectionErrors: {},
    byVersion: {},
    byHost: {},
    latencyMs: { p50: 0, p90: 0, p99: 0, max: 0 },
    seconds: 0,
  };
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  let stopped = false;
  let seq = 0;

  async function worker(): Promise<void> {
    while (!stopped && performance.now() < deadline) {
      const n = ++seq;
      const slow = opts.slowEvery ? n % opts.slowEvery === 0 : false;
      const write = !slow && opts.writeEvery ? n % opts.writeEvery === 0 : false;
      const path = slow ? (opts.slowPath ?? '/slow?ms=2000') : write ? '/write' : url.pathname + url.search;
      const t0 = performance.now();
      const method = write ? 'POST' : 'GET';
      let r = await request(agent, url, path, method, opts);
      report.requests++;
      if (r.kind !== 'ok') {
        report.failed++;
        report.failures[r.kind]++;
        if (r.error) report.connectionErrors[r.error] = (report.connectionErrors[r.error] ?? 0) + 1;
        if (r.resetOnReused) {
          report.failures.resetOnReusedConnection++;
          // On a new connection: the pool may hold more sockets the server is closing.
          if (method === 'GET') r = await request(false, url, path, method, opts);
        }
        if (r.kind !== 'ok') report.failedAfterRetry++;
      }
      latencies.push(performance.now() - t0);
      if (r.kind === 'ok') report.ok++;
      if (r.version) report.byVersion[r.version] = (report.byVersion[r.version] ?? 0) + 1;
      if (r.host) report.byHost[r.host] = (report.byHost[r.host] ?? 0) + 1;
    }
  }

  const workers = Promise.all(Array.from({ length: opts.concurrency ?? 16 }, () => worker()));
  return {
    requestsSoFar: () => report.requests,
    async stop() {
      stopped = true;
      await workers; // in-flight requests finish (or time out): none is left uncounted
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const round = (x: number) => Math.round(x * 10) / 10;
      report.latencyMs = {
        p50: round(percentile(latencies, 50)),
        p90: round(percentile(latencies, 90)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1) ?? 0),
      };
      report.seconds = round((performance.now() - started) / 1000);
      return report;
    },
  };
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const run = startLoad(opts);
  await new Promise((resolve) => setTimeout(resolve, opts.seconds * 1000));
  return run.stop();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '16' },
      'slow-every': { type: 'string', default: '0' },
      'slow-path': { type: 'string', default: '/slow?ms=2000' },
      'write-every': { type: 'string', default: '0' },
      timeout: { type: 'string', default: '10000' },
      host: { type: 'string' },
      keepalive: { type: 'string', default: 'on' },
    },
  });
  if (!values.url || !['on', 'off'].includes(values.keepalive))
    throw new Error(
      'usage: load.js --url URL [--seconds N] [--concurrency N] [--slow-every N] [--slow-path P] ' +
        '[--write-every N] [--timeout MS] [--host NAME] [--keepalive on|off]',
    );
  const report = await runLoad({
    url: values.url,
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    slowEvery: Number(values['slow-every']),
    slowPath: values['slow-path'],
    writeEvery: Number(values['write-every']),
    timeout: Number(values.timeout),
    host: values.host,
    keepAlive: values.keepalive === 'on',
  });
  console.log(JSON.stringify(report, null, 2));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
