// The reload-free nginx mode against a REAL nginx with the Lua module (no lab): a standalone
// nginx on loopback in a temp prefix, templates/nginx/baton_balancer.lua as shipped, tiny Node
// members answering their own name, and NginxLuaBalancer driving it through a LocalTransport.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { Agent, createServer, request, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NginxLuaBalancer } from '../../src/balancers/nginx-lua.js';
import { UserError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';

const MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so', '/usr/lib/nginx/modules/ngx_http_lua_module.so'];
const TEMPLATES = join(import.meta.dirname, '../../templates/nginx');
const haveNginx = (() => {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    return MODULES.every((m) => existsSync(m)) && existsSync('/usr/share/lua/5.1/ngx/balancer.lua');
  } catch {
    return false;
  }
})();

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Member {
  name: string;
  server: Server;
  port: number;
  /** Requests to /slow wait here until released. */
  held: ServerResponse[];
}

async function startMember(name: string): Promise<Member> {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/slow') held.push(res);
    else if (req.url === '/fail') {
      res.statusCode = 500;
      res.end(name);
    } else res.end(name);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { name, server, port: (server.address() as { port: number }).port, held };
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Not skipped when nginx or the module is missing: the tests fail and say what to install (CI installs them).
describe('NginxLuaBalancer against a real nginx (balancer_by_lua)', () => {
  it('has nginx with the Lua module and lua-resty-core (`bash test/lab/lab.sh packages` installs them)', () => {
    expect(haveNginx).toBe(true);
  });

  const dir = mkdtempSync(join(tmpdir(), 'baton-nginx-lua-'));
  const stateFile = join(dir, 'baton-upstreams.json');
  const pidFile = join(dir, 'nginx.pid');
  const members: Member[] = [];
  let publicPort = 0;
  let controlUrl = '';
  let balancer: NginxLuaBalancer;

  const startNginx = () => execFileSync('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
  /** Stop our nginx by its pid file only, and wait until its master is gone. */
  const stopNginx = async () => {
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    await until(
      'nginx master exit',
      async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      (gone) => gone,
    );
  };
  const answeredBy = async (n: number) => {
    const bodies: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await get(publicPort);
      expect(r.status).toBe(200);
      bodies.push(r.body);
    }
    return bodies;
  };

  beforeAll(async () => {
    if (!haveNginx)
      throw new Error(
        'nginx with libnginx-mod-http-lua and lua-resty-core is needed: `bash test/lab/lab.sh packages` installs them',
      );
    for (const name of ['a', 'b', 'c']) members.push(await startMember(name));
    const deadPort = await freePort(); // a member nothing listens on: refused, retried elsewhere
    publicPort = await freePort();
    const controlPort = await freePort();
    controlUrl = `http://127.0.0.1:${controlPort}/baton`;
    writeFileSync(
      stateFile,
      JSON.stringify({
        web: [
          ...members.map((m) => ({ name: m.name, address: '127.0.0.1', port: m.port, state: 'ready' })),
          { name: 'dead', address: '127.0.0.1', port: deadPort, state: 'drain' },
        ],
        empty: [],
      }),
    );
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((t) => `${t}_temp_path ${dir}/${t};`)
      .join(' ');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `load_module ${MODULES[0]};
load_module ${MODULES[1]};
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon on;
worker_processes 2;
pid ${pidFile};
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log off;
  ${temp}
  lua_package_path "${TEMPLATES}/?.lua;;";
  lua_shared_dict baton 1m;
  init_by_lua_block { require("baton_balancer").init("${stateFile}") }
  log_by_lua_block { require("baton_balancer").log() }
  upstream web { server 0.0.0.1; balancer_by_lua_block { require("baton_balancer").balance("web") } keepalive 16; keepalive_timeout 1s; }
  upstream empty { server 0.0.0.1; balancer_by_lua_block { require("baton_balancer").balance("empty") } }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_next_upstream error timeout;
  server { listen 127.0.0.1:${publicPort}; location / { proxy_pass http://web; } location /empty { proxy_pass http://empty; } location /fail { proxy_pass http://web; proxy_intercept_errors on; error_page 500 = @fallback; } location @fallback { return 200 fallback; } }
  server { listen 127.0.0.1:${controlPort}; location = /baton { content_by_lua_block { require("baton_balancer").control() } } }
}
`,
    );
    // `nginx -t` as the driver runs it, on this prefix and file
    const wrapper = join(dir, 'nginx-here');
    writeFileSync(wrapper, `#!/bin/sh\nexec nginx -p '${dir}' -c '${dir}/nginx.conf' "$@"\n`);
    chmodSync(wrapper, 0o755);
    startNginx();
    balancer = new NginxLuaBalancer(new LocalTransport('lb'), {
      upstream: 'web',
      controlUrl,
      stateFile,
      nginx: wrapper,
      errorLog: join(dir, 'error.log'),
      appTransport: async () => new LocalTransport('app'),
    });
    await until(
      'control endpoint',
      () =>
        balancer.members().then(
          () => true,
          () => false,
        ),
      (up) => up,
    );
  }, 15_000);

  afterAll(async () => {
    agent.destroy();
    await stopNginx();
    for (const m of members) {
      for (const res of m.held) res.end();
      m.server.closeAllConnections();
      await new Promise((r) => m.server.close(r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the members as loaded from the state file, and passes nginx -t', async () => {
    const read = await balancer.members();
    expect(read.map((m) => `${m.name}=${m.state}/${m.sessions}`)).toEqual([
      'a=ready/0',
      'b=ready/0',
      'c=ready/0',
      'dead=drain/0',
    ]);
    await balancer.configTest();
  });

  it('drains a member: none of 50 requests reaches it; the file says so too', async () => {
    await balancer.drain(['b']);
    const bodies = await answeredBy(50);
    expect(bodies).not.toContain('b');
    expect(new Set(bodies)).toEqual(new Set(['a', 'c']));
    const file = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      web: { name: string; state: string }[];
      empty: unknown[];
    };
    expect(file.web.find((m) => m.name === 'b')?.state).toBe('drain');
    expect(file.empty).toEqual([]); // other upstreams are left as they were
  });

  it('counts a request in flight while its member holds it, and none once it is answered', async () => {
    await balancer.switchPool([], ['c']); // only a left
    const a = members[0] as Member;
    const slow = get(publicPort, '/slow');
    await until(
      'held request',
      async () => a.held.length,
      (n) => n === 1,
    );
    expect((await balancer.members()).find((m) => m.name === 'a')?.sessions).toBe(1);
    expect((await balancer.sessions(['a']))['a']).toBeGreaterThanOrEqual(1);
    a.held.shift()?.end('slow a');
    expect((await slow).body).toBe('slow a');
    await until(
      'lua in-flight count',
      async () => (await balancer.members()).find((m) => m.name === 'a')?.sessions,
      (n) => n === 0,
    );
    // idle pooled connections close after the upstream's keepalive_timeout (1 s here)
    await until(
      'sessions',
      async () => (await balancer.sessions(['a']))['a'],
      (n) => n === 0,
    );
  });

  it('ends the in-flight count of a request redirected internally after proxying (error_page)', async () => {
    for (let i = 0; i < 6; i++) expect(await get(publicPort, '/fail')).toEqual({ status: 200, body: 'fallback' });
    expect((await balancer.members()).map((m) => m.sessions)).toEqual([0, 0, 0, 0]);
  });

  it('returns members to the pool: they take requests again', async () => {
    await balancer.ready(['b', 'c']);
    expect(new Set(await answeredBy(30))).toEqual(new Set(['a', 'b', 'c']));
  });

  it('retries a refused connection once on another ready member', async () => {
    await balancer.ready(['dead']);
    const bodies = await answeredBy(20); // every status 200: each refused attempt went elsewhere
    expect(bodies.filter((b) => b === 'dead')).toEqual([]);
    expect((await balancer.counters()).redispatches).toBeGreaterThan(0);
    await balancer.drain(['dead']);
  });

  it('answers 502 when no member is ready, and counts it as a 5xx', async () => {
    expect((await get(publicPort, '/empty')).status).toBe(502);
    const before = (await balancer.counters()).http5xx; // of upstream web only
    await balancer.drain(['a', 'b', 'c']);
    expect((await get(publicPort)).status).toBe(502);
    expect((await balancer.counters()).http5xx).toBe(before + 1); // the Lua side's "no ready member" line in the error log
    await balancer.ready(['a', 'b', 'c']);
  });

  it('comes back after a restart with the states baton last set', async () => {
    await balancer.drain(['c']);
    await stopNginx();
    startNginx();
    await until(
      'restarted control endpoint',
      () =>
        balancer.members().then(
          (m) => m.map((x) => `${x.name}=${x.state}`),
          () => [],
        ),
      (m) => m.length > 0,
    ).then((m) => expect(m).toEqual(['a=ready', 'b=ready', 'c=drain', 'dead=drain']));
    expect(await answeredBy(20)).not.toContain('c');
    await balancer.ready(['c']);
  });

  it('refuses malformed control requests with 400 and a reason', async () => {
    const curl = (...args: string[]) =>
      new LocalTransport().run(['curl', '-sS', '-o', '-', '-w', '\n%{http_code}', ...args], { allowFailure: true });
    const noUpstream = await curl(controlUrl);
    expect(noUpstream.stdout).toMatch(/expected GET \?upstream=NAME[\s\S]*\n400$/);
    const members = await curl('-X', 'POST', '--data-binary', '{"upstream":"web","members":[]}', controlUrl);
    expect(members.stdout).toMatch(/never from the request[\s\S]*\n400$/);
    const put = await curl('-X', 'PUT', controlUrl);
    expect(put.stdout).toMatch(/not PUT[\s\S]*\n400$/);
  });

  it('keeps the members it has when asked to load a state file it cannot use', async () => {
    const good = readFileSync(stateFile, 'utf8');
    writeFileSync(stateFile, good.replace(/"state": *"ready"/, '"state": "maint"'));
    try {
      const r = await new LocalTransport().run(
        [
          'curl',
          '-sS',
          '-o',
          '-',
          '-w',
          '\n%{http_code}',
          '-X',
          'POST',
          '--data-binary',
          '{"upstream":"web","reload":true}',
          controlUrl,
        ],
        { allowFailure: true },
      );
      expect(r.stdout).toMatch(/member 1 \(a\): state must be ready or drain[\s\S]*\n500$/);
      expect((await balancer.members()).map((m) => m.state)).toEqual(['ready', 'ready', 'ready', 'drain']);
    } finally {
      writeFileSync(stateFile, good);
    }
  });

  it('names what to do when the upstream has no members loaded, and refuses unknown members', async () => {
    const other = new NginxLuaBalancer(new LocalTransport('lb'), {
      upstream: 'shop',
      controlUrl,
      stateFile,
      appTransport: async () => new LocalTransport(),
    });
    const err = await other.members().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).hint).toMatch(/write .*baton-upstreams\.json .*every member of upstream shop/);
    await expect(other.drain(['a'])).rejects.toThrow(/has no upstream shop/);
    await expect(balancer.drain(['zz'])).rejects.toThrow(/has no member zz: members are a, b, c, dead/);
  });

  it('switches 20 times under keep-alive load without a failed request', async () => {
    let ok = 0;
    const failed: string[] = [];
    let running = true;
    const loadAgent = new Agent({ keepAlive: true, maxSockets: 8 });
    const client = async () => {
      while (running) {
        await new Promise<void>((resolve) => {
          const req = request({ host: '127.0.0.1', port: publicPort, path: '/', agent: loadAgent }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else failed.push(String(res.statusCode));
              resolve();
            });
          });
          req.on('error', (e) => {
            failed.push(e.message);
            resolve();
          });
          req.end();
        });
      }
    };
    const clients = Array.from({ length: 8 }, client);
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      await balancer.switchPool(i % 2 ? ['a', 'b'] : ['c'], i % 2 ? ['c'] : ['a', 'b']);
      await new Promise((r) => setTimeout(r, 50));
    }
    running = false;
    await Promise.all(clients);
    loadAgent.destroy();
    console.log(
      `20 switches in ${Date.now() - started} ms under 8 keep-alive clients: ${ok} requests answered 200, ${failed.length} failed`,
    );
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    await balancer.ready(['a', 'b', 'c']);
  }, 15_000);

  it('weighs members: smooth weighted round robin, exact over every cycle; a weighted member still drains; restarts keep the weights', async () => {
    await balancer.setWeights({ a: 1, b: 9, c: 10 });
    expect(await balancer.weights()).toEqual({ a: 1, b: 9, c: 10, dead: 1 });
    const count = (bodies: string[], who: string) => bodies.filter((b) => b === who).length;
    const cycles = await answeredBy(40);
    expect(['a', 'b', 'c'].map((m) => count(cycles, m))).toEqual([2, 18, 20]);
    // Smooth: the light member once in every 20, not a run of one member then the other.
    const at = cycles.flatMap((b, i) => (b === 'a' ? [i] : []));
    expect(at[1]! - at[0]!).toBe(20);

    await balancer.drain(['c']);
    const drained = await answeredBy(30);
    expect(['a', 'b', 'c'].map((m) => count(drained, m))).toEqual([3, 27, 0]);
    expect((await balancer.weights())['c']).toBe(10);

    // A retry after a refused connection still goes to another ready member, weights or not.
    await balancer.setWeights({ dead: 5 });
    await balancer.ready(['dead']);
    expect(await answeredBy(30)).not.toContain('dead');
    await balancer.drain(['dead']);
    await balancer.ready(['c']);

    await stopNginx();
    startNginx();
    await until(
      'restarted control endpoint',
      () => balancer.weights().catch(() => ({})),
      (w) => Object.keys(w).length > 0,
    ).then((w) => expect(w).toEqual({ a: 1, b: 9, c: 10, dead: 5 }));

    await balancer.setWeights({ a: 1, b: 1, c: 1, dead: 1 });
    const even = await answeredBy(30);
    expect(['a', 'b', 'c'].map((m) => count(even, m))).toEqual([10, 10, 10]);
    expect(
      (JSON.parse(readFileSync(stateFile, 'utf8')) as { web: { weight?: number }[] }).web.map((m) => m.weight ?? 1),
    ).toEqual([1, 1, 1, 1]);
  }, 15_000);

  it('refuses to load a state file with a weight it does not take, keeping the members it has', async () => {
    const good = readFileSync(stateFile, 'utf8');
    writeFileSync(stateFile, good.replace(/"state": *"ready"/, '"state": "ready", "weight": 0'));
    try {
      const r = await new LocalTransport().run(
        [
          'curl',
          '-sS',
          '-o',
          '-',
          '-w',
          '\n%{http_code}',
          '-X',
          'POST',
          '--data-binary',
          '{"upstream":"web","reload":true}',
          controlUrl,
        ],
        { allowFailure: true },
      );
      expect(r.stdout).toMatch(/member 1 \(a\): weight must be a whole number 1-256[\s\S]*\n500$/);
      expect(await balancer.weights()).toEqual({ a: 1, b: 1, c: 1, dead: 1 });
    } finally {
      writeFileSync(stateFile, good);
    }
  });
});
