// npm run bench:nginx-lua -- [--switches N] [--concurrency N] [--slow-clients N]
// Issue 17 without the lab: a standalone nginx with the Lua module on loopback (a temp prefix,
// templates/nginx/baton_balancer.lua as shipped, four Node members), the same keep-alive load
// twice: N pool switches by NginxLuaBalancer (mode: lua), then N plain reloads (SIGHUP to that
// nginx's master, by its pid file: what mode: file costs per change). Prints failed requests by
// kind as JSON. Needs nginx, libnginx-mod-http-lua and lua-resty-core on this machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NginxLuaBalancer } from '../src/balancers/nginx-lua.js';
import { LocalTransport } from '../src/transport/local.js';
import { repoRoot } from './repo-root.js';

const { values } = parseArgs({
  options: {
    switches: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    'slow-clients': { type: 'string', default: '4' },
  },
});
const switches = Number(values.switches);
const concurrency = Number(values.concurrency);
const slowClients = Number(values['slow-clients']);
if (![switches, concurrency, slowClients].every((n) => Number.isInteger(n) && n >= 0) || switches < 1)
  throw new Error('--switches, --concurrency and --slow-clients must be whole numbers');

const freePort = async (): Promise<number> => {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'baton-bench-nginx-lua-'));
const pidFile = join(dir, 'nginx.pid');
const stateFile = join(dir, 'baton-upstreams.json');
const members: { name: string; server: Server; port: number }[] = [];
for (const name of ['web1a', 'web2a', 'web1b', 'web2b']) {
  const server = createServer((req, res) =>
    req.url === '/slow' ? setTimeout(() => res.end(name), 2000) : res.end(name),
  );
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  members.push({ name, server, port: (server.address() as { port: number }).port });
}
const publicPort = await freePort();
const controlPort = await freePort();
writeFileSync(
  stateFile,
  JSON.stringify({ web: members.map((m) => ({ name: m.name, address: '127.0.0.1', port: m.port, state: 'ready' })) }),
);
const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join(' ');
writeFileSync(
  join(dir, 'nginx.conf'),
  `load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon on; worker_processes 2; pid ${pidFile}; error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off; ${temp}
  lua_package_path "${repoRoot()}/templates/nginx/?.lua;;";
  lua_shared_dict baton 1m;
  init_by_lua_block { require("baton_balancer").init("${stateFile}") }
  log_by_lua_block { require("baton_balancer").log() }
  upstream web { server 0.0.0.1; balancer_by_lua_block { require("baton_balancer").balance("web") } \
keepalive 16; keepalive_timeout 2s; }
  proxy_http_version 1.1; proxy_set_header Connection ""; proxy_next_upstream error timeout;
  server { listen 127.0.0.1:${publicPort}; location / { proxy_pass http://web; } }
  server { listen 127.0.0.1:${controlPort}; location = /baton { \
content_by_lua_block { require("baton_balancer").control() } } }
}
`,
);
execFileSync('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')]);
const master = () => Number(readFileSync(pidFile, 'utf8').trim());
const balancer = new NginxLuaBalancer(new LocalTransport('lb'), {
  upstream: 'web',
  controlUrl: `http://127.0.0.1:${controlPort}/baton`,
  stateFile,
  appTransport: async () => new LocalTransport('app'),
});

/** `change(i)` N times, 250 ms apart, under the load; what the clients saw. */
async function underLoad(change: (i: number) => Promise<void>) {
  let ok = 0;
  const failed: Record<string, number> = {};
  let running = true;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency + slowClients });
  const one = (path: string) =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: publicPort, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          else failed[String(res.statusCode)] = (failed[String(res.statusCode)] ?? 0) + 1;
          resolve();
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        failed[e.code ?? e.message] = (failed[e.code ?? e.message] ?? 0) + 1;
        resolve();
      });
      req.end();
    });
  const loop = async (path: string) => {
    while (running) await one(path);
  };
  const clients = [
    ...Array.from({ length: concurrency }, () => loop('/')),
    ...Array.from({ length: slowClients }, () => loop('/slow')),
  ];
  await sleep(500);
  const took: number[] = [];
  for (let i = 0; i < switches; i++) {
    const t = Date.now();
    await change(i);
    took.push(Date.now() - t);
    await sleep(250);
  }
  running = false;
  await Promise.all(clients);
  agent.destroy();
  took.sort((a, b) => a - b);
  return {
    requests: ok + Object.values(failed).reduce((a, b) => a + b, 0),
    failed,
    changeMs: { median: took[Math.floor(took.length / 2)], max: took.at(-1) },
  };
}

try {
  const lua = await underLoad((i) =>
    i % 2
      ? balancer.switchPool(['web1a', 'web2a'], ['web1b', 'web2b'])
      : balancer.switchPool(['web1b', 'web2b'], ['web1a', 'web2a']),
  );
  await balancer.ready(members.map((m) => m.name));
  const reload = await underLoad(async () => {
    process.kill(master(), 'SIGHUP');
  });
  console.log(JSON.stringify({ switches, concurrency, slowClients, luaSwitches: lua, plainReloads: reload }, null, 2));
} finally {
  process.kill(master(), 'SIGTERM');
  for (const m of members) {
    m.server.closeAllConnections();
    m.server.close();
  }
  await sleep(500);
  rmSync(dir, { recursive: true, force: true });
}
