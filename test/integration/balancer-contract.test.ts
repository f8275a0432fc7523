// One contract, four real balancers: HAProxy (runtime API), Apache mod_proxy_balancer
// (balancer-manager + BalancerMember status), nginx (upstream file + reload) and nginx without
// reloads (balancer_by_lua, a state file its Lua side loads) in the lab, driven only through the
// Balancer interface (plus each driver's read-back of its config).
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApacheBalancer } from '../../src/balancers/apache.js';
import { waitForDrain } from '../../src/balancers/drain.js';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { NginxBalancer } from '../../src/balancers/nginx.js';
import { NginxLuaBalancer } from '../../src/balancers/nginx-lua.js';
import type { Balancer } from '../../src/balancers/types.js';
import { httpRequest } from '../../src/checks/http.js';
import { OperationFailedError, UserError } from '../../src/errors.js';
import { appHosts, LAB_JSON, type Lab } from './helpers/lab.js';
import { SshCliTransport } from './helpers/ssh-cli-transport.js';
import { asRoot } from '../lab/as-root.js';
import { quoteArgv } from '../../src/transport/quote.js';

const SLOW_MS = 2000;
const APACHE_CONF = '/etc/apache2/sites-enabled/baton.conf';

interface LabBalancers {
  apache: { port: number; balancer: string; manager: string };
  nginx: { port: number; upstream: string; upstreamFile: string; pidFile: string };
  nginxLua: { port: number; upstream: string; controlUrl: string; stateFile: string; accessLog: string };
}

type Driver = 'haproxy' | 'apache' | 'nginx' | 'nginx-lua';

const lab = JSON.parse(readFileSync(LAB_JSON, 'utf8')) as Lab & { balancer: LabBalancers };
const lb = new SshCliTransport(lab.balancer.host);
const apps = new Map(appHosts(lab).map((h) => [h.address, new SshCliTransport(h.name)]));
const names = appHosts(lab).map((h) => h.member as string);
const hostOf = Object.fromEntries(appHosts(lab).map((h) => [h.member, h.name]));

function make(driver: Driver): { balancer: Balancer; port: number; configFile?: string; restart?: string[] } {
  const b = lab.balancer;
  switch (driver) {
    case 'haproxy':
      return {
        balancer: new HaproxyBalancer(lb, {
          backend: b.haproxy.backend,
          socket: b.haproxy.socket,
          configFile: b.haproxy.config,
        }),
        port: b.haproxy.port,
      };
    case 'apache':
      return {
        balancer: new ApacheBalancer(lb, {
          balancer: b.apache.balancer,
          managerUrl: `http://${b.address}:${b.apache.port}${b.apache.manager}`,
          configFile: APACHE_CONF,
          accessLog: '/var/log/apache2/public.log',
        }),
        port: b.apache.port,
        configFile: APACHE_CONF,
        restart: ['apache2ctl', 'graceful'],
      };
    case 'nginx':
      return {
        balancer: new NginxBalancer(lb, {
          upstream: b.nginx.upstream,
          upstreamFile: b.nginx.upstreamFile,
          pidFile: b.nginx.pidFile,
          accessLog: '/var/log/nginx/public.log',
          appTransport: async (m) => apps.get(m.address) as SshCliTransport,
        }),
        port: b.nginx.port,
        configFile: b.nginx.upstreamFile,
        restart: ['nginx', '-s', 'reload'],
      };
    case 'nginx-lua':
      return {
        balancer: new NginxLuaBalancer(lb, {
          upstream: b.nginxLua.upstream,
          controlUrl: b.nginxLua.controlUrl,
          stateFile: b.nginxLua.stateFile,
          accessLog: b.nginxLua.accessLog,
          appTransport: async (m) => apps.get(m.address) as SshCliTransport,
        }),
        port: b.nginxLua.port,
        configFile: b.nginxLua.stateFile,
        // Someone else's reload: the Lua side loads the state file again at start.
        restart: ['nginx', '-s', 'reload'],
      };
  }
}

/** The state the driver's config file gives each member (what a restart or reload brings back). */
async function persisted(b: Balancer): Promise<Record<string, string>> {
  if (b instanceof ApacheBalancer) return b.persisted();
  if (b instanceof NginxBalancer)
    return Object.fromEntries((await b.servers()).map((s) => [s.name, s.down ? 'drain' : 'ready']));
  if (b instanceof NginxLuaBalancer) {
    const file = JSON.parse((await lb.run(['cat', '--', lab.balancer.nginxLua.stateFile])).stdout) as Record<
      string,
      { name: string; state: string }[]
    >;
    return Object.fromEntries((file[lab.balancer.nginxLua.upstream] ?? []).map((m) => [m.name, m.state]));
  }
  throw new Error('haproxy keeps no member state in its config');
}

afterAll(async () => {
  await Promise.all([lb.close(), ...[...apps.values()].map((t) => t.close())]);
});

describe.each(['haproxy', 'apache', 'nginx', 'nginx-lua'] as const)('%s balancer contract', (driver) => {
  let b: Balancer;
  let publicUrl: string;
  let configFile: string | undefined;
  let restart: string[] | undefined;

  beforeAll(() => {
    const m = make(driver);
    b = m.balancer;
    publicUrl = `http://${lab.balancer.address}:${m.port}`;
    configFile = m.configFile;
    restart = m.restart;
  });
  // Whatever a test did, every member goes back into the pool.
  afterEach(async () => {
    await b.ready(names);
  });

  async function viaPublic(path: string) {
    const a = await httpRequest(`${publicUrl}${path}`, { timeoutMs: 10_000 });
    return { status: a.status, host: a.headers['x-host'], doneAt: performance.now() };
  }
  const stateOf = async (name: string) => (await b.members()).find((m) => m.name === name)?.state;

  it(
    'lists every app host as a member with its address and port, ' + 'reported healthy where the balancer knows',
    async () => {
      const members = await b.members();
      expect(members.map((m) => ({ name: m.name, address: m.address, port: m.port }))).toEqual(
        appHosts(lab).map((h) => ({ name: h.member, address: h.address, port: 8000 })),
      );
      expect(members.every((m) => m.state === 'ready')).toBe(true);
      // HAProxy checks /healthz, Apache knows its error state; nginx open source knows nothing and says nothing.
      if (driver === 'nginx' || driver === 'nginx-lua')
        expect(members.every((m) => m.healthy === undefined)).toBe(true);
      else expect(members.every((m) => m.healthy === true)).toBe(true);
    },
  );

  it('drains (read back), new requests avoid the member; ready (read back) brings traffic back', async () => {
    await b.drain(['web1a']);
    expect(await stateOf('web1a')).toBe('drain');
    const during = await Promise.all(Array.from({ length: 16 }, () => viaPublic('/')));
    expect(during.every((a) => a.status === 200)).toBe(true);
    expect(during.map((a) => a.host)).not.toContain(hostOf['web1a']);

    await b.ready(['web1a']);
    expect(await stateOf('web1a')).toBe('ready');
    const after = [];
    for (let i = 0; i < 16; i++) after.push(await viaPublic('/'));
    expect(after.map((a) => a.host)).toContain(hostOf['web1a']);
  });

  it(
    'keeps sessions above 0 while a slow request runs on a drained member, ' +
      'and waitForDrain returns only after it ends',
    async () => {
      // Round robin over four members: 8 slow requests put some on every member, web2b included.
      const name = 'web2b';
      const t0 = performance.now();
      const slow = Array.from({ length: 8 }, () => viaPublic(`/slow?ms=${SLOW_MS}`));
      await new Promise((r) => setTimeout(r, 300));
      await b.drain([name]);
      const drainedAt = performance.now();
      const fresh = Promise.all(Array.from({ length: 12 }, () => viaPublic('/')));
      const progress: Record<string, number>[] = [];
      const r = await waitForDrain(b, [name], { timeoutMs: 15_000, onProgress: (p) => progress.push(p.busy) });
      const doneAt = performance.now();

      expect(r.drained).toBe(true);
      expect(progress[0]?.[name]).toBeGreaterThanOrEqual(1);
      const answers = await Promise.all(slow);
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const onDrained = answers.filter((a) => a.host === hostOf[name]);
      expect(onDrained.length).toBeGreaterThanOrEqual(1);
      const lastOnDrained = Math.max(...onDrained.map((a) => a.doneAt));
      expect(doneAt).toBeGreaterThanOrEqual(lastOnDrained - 50);
      expect(doneAt - lastOnDrained).toBeLessThan(2000);
      expect(doneAt - t0).toBeGreaterThanOrEqual(SLOW_MS - 100);
      console.log(
        `${driver}: waited ${Math.round(doneAt - drainedAt)} ms after drain; ` +
          `drained seen ${Math.round(doneAt - lastOnDrained)} ms after the last slow answer on ${name}` +
          `; ${r.polls} polls`,
      );
      expect((await fresh).map((a) => a.host)).not.toContain(hostOf[name]);
    },
  );

  it('counts traffic', async () => {
    const before = await b.counters();
    await Promise.all(Array.from({ length: 12 }, () => viaPublic('/')));
    const after = await b.counters();
    for (const k of ['requests', 'http5xx', 'redispatches', 'retries'] as const) {
      expect(Number.isInteger(after[k])).toBe(true);
      expect(after[k]).toBeGreaterThanOrEqual(before[k]);
    }
    // HAProxy counts per backend; Apache and nginx in the public frontend's access log.
    expect(after.requests - before.requests).toBeGreaterThanOrEqual(12);
  });

  it('passes its own config test', async () => {
    await b.configTest();
  });

  it(
    'keeps a drained member drained across a graceful restart / reload, ' +
      'and the config file says the same (HAProxy: changes members at runtime only, ' +
      'never touching its file or reloading)',
    async () => {
      if (driver === 'haproxy') {
        const cfg = '/etc/haproxy/haproxy.cfg';
        const before = {
          file: (await lb.run(['cat', '--', cfg])).stdout,
          pid: (await lb.run(['cat', '/run/haproxy.pid'])).stdout,
        };
        await b.drain(['web2a']);
        expect(await stateOf('web2a')).toBe('drain');
        await b.ready(['web2a']);
        expect({
          file: (await lb.run(['cat', '--', cfg])).stdout,
          pid: (await lb.run(['cat', '/run/haproxy.pid'])).stdout,
        }).toEqual(before);
        return;
      }
      await b.drain(['web2a']);
      expect(await persisted(b)).toMatchObject({ web2a: 'drain', web1a: 'ready' });
      await asRoot(lab.balancer.host, quoteArgv(restart as string[])); // someone else's restart, as root
      await new Promise((r) => setTimeout(r, 1000));
      expect(await stateOf('web2a')).toBe('drain');
      expect(await stateOf('web1a')).toBe('ready');
      const during = await Promise.all(Array.from({ length: 12 }, () => viaPublic('/')));
      expect(during.map((a) => a.host)).not.toContain(hostOf['web2a']);

      await b.ready(['web2a']);
      expect(await persisted(b)).toMatchObject({ web2a: 'ready' });
      await asRoot(lab.balancer.host, quoteArgv(restart as string[])); // someone else's restart, as root
      await new Promise((r) => setTimeout(r, 1000));
      expect(await stateOf('web2a')).toBe('ready');
    },
  );

  it(
    'refuses an edit its validation fails, puts the file back and leaves the running balancer serving ' +
      '(HAProxy: reports the broken file, members still change at runtime)',
    async () => {
      if (driver === 'haproxy') {
        const cfg = '/etc/haproxy/haproxy.cfg';
        const original = (await lb.run(['cat', '--', cfg])).stdout;
        // A hand edit by an administrator: root's file, written as root.
        await asRoot(lab.balancer.host, `cat > ${cfg}`, `${original}baton_no_such_keyword on\n`);
        try {
          await expect(b.configTest()).rejects.toThrow();
          await b.drain(['web1b']);
          expect(await stateOf('web1b')).toBe('drain');
          await b.ready(['web1b']);
        } finally {
          await asRoot(lab.balancer.host, `cat > ${cfg}`, original);
        }
        await b.configTest();
        const answers = await Promise.all(Array.from({ length: 8 }, () => viaPublic('/')));
        expect(answers.every((a) => a.status === 200)).toBe(true);
        return;
      }
      const file = configFile as string;
      const original = (await lb.run(['cat', '--', file])).stdout;
      // Something else in the file is broken (a bad hand edit): the driver's own edit must not go live.
      const badEdit = {
        apache: 'BatonNoSuchDirective on\n',
        nginx: 'baton_no_such_directive on;\n',
        'nginx-lua': 'not json\n',
      };
      const broken = `${original}${badEdit[driver]}`;
      await lb.run(['sh', '-c', 'cat > "$1"', 'sh', file], { stdin: broken });
      try {
        const err = await b.drain(['web1b']).catch((e: unknown) => e);
        // The reload-free nginx reads the state file before writing it: it refuses before changing anything.
        expect(err).toBeInstanceOf(driver === 'nginx-lua' ? UserError : OperationFailedError);
        expect((err as Error).message).toMatch(
          driver === 'nginx-lua' ? /state file .* cannot be used/ : /refused the edited/,
        );
        expect((await lb.run(['cat', '--', file])).stdout).toBe(broken);
      } finally {
        await lb.run(['sh', '-c', 'cat > "$1"', 'sh', file], { stdin: original });
      }
      expect(await stateOf('web1b')).toBe('ready');
      const answers = await Promise.all(Array.from({ length: 8 }, () => viaPublic('/')));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(answers.map((a) => a.host)).toContain(hostOf['web1b']);
    },
  );
});
