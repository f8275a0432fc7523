// The lab app: a tiny shop whose every answer says which release and host served it, so the
// load generator and the tests can see a push happen. Behaviour per tag comes from
// release.json (the lab's repo commits one per tag), not from code branches per tag.
import { createServer } from 'node:http';
import { appendFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

const release = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const host = hostname();
const port = Number(process.env.PORT ?? 8000);
const writesDir = '/srv/shop-data';
let stopping = false;
// v9-flaky: one GET / in `failEvery` answers 500 (its health and smoke checks mostly pass).
// v10-slow: every GET / answers `slowMs` later (its health checks are as quick as ever).
// v11-resets: one GET / in `resetEvery` has its connection reset without an answer (a crashing worker,
// a full accept queue): a balancer that retries on another member hides it from the client.
let served = 0;

// Answers since the process started, by path and status, for Prometheus on mon (GET /metrics, in its
// text format; its own scrapes are not counted). Paths the app does not serve count as "other".
const PATHS = new Set(['/', '/version', '/healthz', '/slow', '/orders', '/write']);
const answered = new Map();
function count(req, status) {
  const path = new URL(req.url ?? '/', 'http://app').pathname;
  if (path === '/metrics') return;
  const key = `path="${PATHS.has(path) ? path : 'other'}",status="${status}"`;
  answered.set(key, (answered.get(key) ?? 0) + 1);
}
function metrics() {
  const lines = [...answered].map(([labels, n]) => `http_requests_total{release="${release.version}",${labels}} ${n}`);
  return ['# HELP http_requests_total Requests answered, by path and status.', '# TYPE http_requests_total counter', ...lines, ''].join('\n');
}

// Releases that use the shared database (release.json `db`) read `db.columns` of table orders:
// which columns a release needs is what a schema change can break. The pg client is in the app
// root's node_modules (the lab copies it there), found from any release below it.
let pool;
async function database() {
  if (!pool) {
    const { default: pg } = await import('pg');
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 2000 });
    pool.on('error', () => {}); // an idle client's lost connection is replaced at the next query
  }
  return pool;
}

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.setHeader('X-Version', release.version);
  res.setHeader('X-Host', host);
  res.setHeader('Content-Type', type);
  // While stopping, tell keep-alive clients to reconnect (to another member) after this answer.
  if (stopping) res.setHeader('Connection', 'close');
  count(res.req, status);
  res.writeHead(status);
  res.end(body);
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://app');
  if (req.method === 'GET' && url.pathname === '/') {
    if (release.failEvery && ++served % release.failEvery === 0) return send(res, 500, 'this release fails one request in ten\n');
    if (release.resetEvery && ++served % release.resetEvery === 0) return req.socket.resetAndDestroy();
    if (release.slowMs) await new Promise((resolve) => setTimeout(resolve, release.slowMs));
    return send(res, 200, `Welcome to the baton lab shop: version ${release.version} on ${host}\n`);
  }
  if (req.method === 'GET' && url.pathname === '/version') {
    // requestHost lets a test see which Host header reached the app through a proxy.
    return send(res, 200, JSON.stringify({ version: release.version, host, requestHost: req.headers.host ?? null }) + '\n', 'application/json');
  }
  if (req.method === 'GET' && url.pathname === '/metrics') {
    return send(res, 200, metrics(), 'text/plain; version=0.0.4; charset=utf-8');
  }
  if (req.method === 'GET' && url.pathname === '/healthz') {
    return release.healthy ? send(res, 200, 'ok\n') : send(res, 500, 'unhealthy release\n');
  }
  if (req.method === 'GET' && url.pathname === '/slow') {
    const ms = Number(url.searchParams.get('ms') ?? 2000);
    await new Promise((resolve) => setTimeout(resolve, Number.isFinite(ms) ? ms : 2000));
    return send(res, 200, `slow answer after ${ms} ms\n`);
  }
  if (req.method === 'GET' && url.pathname === '/orders') {
    if (!release.db) return send(res, 404, 'this release does not use the database\n');
    try {
      const db = await database();
      const r = await db.query(`SELECT ${release.db.columns.join(', ')} FROM orders ORDER BY id LIMIT 5`);
      return send(res, 200, JSON.stringify({ version: release.version, orders: r.rows }) + '\n', 'application/json');
    } catch (err) {
      return send(res, 500, `database error: ${err.message}\n`);
    }
  }
  if (req.method === 'POST' && url.pathname === '/write') {
    req.resume();
    await new Promise((resolve) => req.on('end', resolve));
    // v5-writes-fail: a release whose health and smoke checks pass but whose writes are broken.
    if (release.writesFail) return send(res, 500, 'writes are broken in this release\n');
    await mkdir(writesDir, { recursive: true });
    await appendFile(`${writesDir}/writes.log`, `${new Date().toISOString()} ${release.version} ${host} ${req.headers.host ?? ''}\n`);
    return send(res, 200, 'written\n');
  }
  return send(res, 404, 'not found\n');
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, `error: ${err}\n`));
});
// How long an idle keep-alive connection stays open (shop.env): 65 s as behind cloud balancers, or
// 0, never closed while idle; Node's own default is 5 s. A balancer's pooled connection lives as long.
if (process.env.KEEPALIVE_MS !== undefined) server.keepAliveTimeout = Number(process.env.KEEPALIVE_MS);

// Graceful stop: refuse new connections, let in-flight requests finish, then exit.
process.on('SIGTERM', () => {
  stopping = true;
  server.close(() => process.exit(0)); // Node 20 also drops idle keep-alive connections here
  setTimeout(() => process.exit(1), 30_000).unref();
});

// v4-slow stands for an app with a long warm-up: nothing listens until it is done.
setTimeout(() => {
  // LISTEN_HOST `::` (the DNS drill's hosts): IPv6 and IPv4 alike.
  server.listen(port, process.env.LISTEN_HOST ?? '0.0.0.0', () => console.log(`${release.version} listening on :${port} as ${host}`));
}, release.startDelayMs ?? 0);
