// Member weights on the real balancers of the lab (the ground a canary share stands on), driven
// only through the Balancer interface: the same assertions on HAProxy (runtime `set weight`),
// Apache (balancer-manager's load factor, kept in the BalancerMember lines too) and nginx without
// reloads (smooth weighted round robin in baton_balancer.lua). Traffic goes through each public
// address and is counted by the app's own X-Host answer. nginx in mode: file refuses, saying why;
// a pair of HAProxy balancers takes the weights on both and reports one that differs.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configMembers } from '../../src/balancers/apache-config.js';
import { ApacheBalancer } from '../../src/balancers/apache.js';
import { BalancerSet, BalancersDisagreeError } from '../../src/balancers/balancer-set.js';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { NginxBalancer } from '../../src/balancers/nginx.js';
import { NginxLuaBalancer } from '../../src/balancers/nginx-lua.js';
import type { Balancer } from '../../src/balancers/types.js';
import { httpRequest } from '../../src/checks/http.js';
import { UserError } from '../../src/errors.js';
import { appHosts, LAB_JSON, type Lab, onHost } from './helpers/lab.js';
import { SshCliTransport } from './helpers/ssh-cli-transport.js';

const APACHE_CONF = '/etc/apache2/sites-enabled/baton.conf';
const REQUESTS = 400;

interface LabBalancers {
  apache: { port: number; balancer: string; manager: string };
  nginx: { port: number; upstream: string; upstreamFile: string; pidFile: string };
  nginxLua: { port: number; upstream: string; controlUrl: string; stateFile: string; accessLog: string };
}

const lab = JSON.parse(readFileSync(LAB_JSON, 'utf8')) as Lab & { balancer: LabBalancers };
const lb = new SshCliTransport(lab.balancer.host);
const lb2 = new SshCliTransport('lb2.baton.test');
const apps = new Map(appHosts(lab).map((h) => [h.address, new SshCliTransport(h.name)]));
const hosts = appHosts(lab);
const names = hosts.map((h) => h.member as string);
const inA = hosts.filter((h) => h.cluster === 'a').map((h) => h.member as string);
const inB = hosts.filter((h) => h.cluster === 'b').map((h) => h.member as string);
const clusterOfHost = Object.fromEntries(hosts.map((h) => [h.name, h.cluster]));
const hostOf = Object.fromEntries(hosts.map((h) => [h.member, h.name]));
const even = Object.fromEntries(names.map((n) => [n, 1]));
/** Cluster a weighted 1 per member, b 19: 5 % of new requests to a. */
const canary = Object.fromEntries([...inA.map((n) => [n, 1]), ...inB.map((n) => [n, 19])]);

type Driver = 'haproxy' | 'apache' | 'nginx-lua';

function make(driver: Driver): { balancer: Balancer; port: number } {
  const b = lab.balancer;
  switch (driver) {
    case 'haproxy':
      return {
        balancer: new HaproxyBalancer(lb, { backend: b.haproxy.backend, socket: b.haproxy.socket }),
        port: b.haproxy.port,
      };
    case 'apache':
      return {
        balancer: new ApacheBalancer(lb, {
          balancer: b.apache.balancer,
          managerUrl: `http://${b.address}:${b.apache.port}${b.apache.manager}`,
          configFile: APACHE_CONF,
        }),
        port: b.apache.port,
      };
    case 'nginx-lua':
      return {
        balancer: new NginxLuaBalancer(lb, {
          upstream: b.nginxLua.upstream,
          controlUrl: b.nginxLua.controlUrl,
          stateFile: b.nginxLua.stateFile,
          appTransport: async (m) => apps.get(m.address) as SshCliTransport,
        }),
        port: b.nginxLua.port,
      };
  }
}

/** The weights the driver's file gives each member (what a restart brings back); HAProxy keeps none in its file. */
async function persistedWeights(driver: Driver): Promise<Record<string, number> | undefined> {
  if (driver === 'apache') {
    const text = (await lb.run(['cat', '--', APACHE_CONF])).stdout;
    const lines = configMembers(text, lab.balancer.apache.balancer) ?? [];
    return Object.fromEntries(lines.map((l) => [l.route ?? l.workerUrl, l.loadFactor]));
  }
  if (driver === 'nginx-lua') {
    const file = JSON.parse((await lb.run(['cat', '--', lab.balancer.nginxLua.stateFile])).stdout) as Record<
      string,
      { name: string; weight?: number }[]
    >;
    return Object.fromEntries((file[lab.balancer.nginxLua.upstream] ?? []).map((m) => [m.name, m.weight ?? 1]));
  }
  return undefined;
}

/** `count` requests through the public address, 8 at a time: how many each app host answered (all must be 200). */
async function spread(url: string, count = REQUESTS): Promise<Record<string, number>> {
  const by: Record<string, number> = {};
  let next = 0;
  const failed: string[] = [];
  const client = async () => {
    while (next < count) {
      next++;
      const a = await httpRequest(`${url}/`, { timeoutMs: 10_000 });
      if (a.status !== 200) failed.push(String(a.status));
      const host = String(a.headers['x-host']);
      by[host] = (by[host] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  expect(failed).toEqual([]);
  return by;
}

const shareOfA = (by: Record<string, number>) => {
  const total = Object.values(by).reduce((n, c) => n + c, 0);
  const a = Object.entries(by).reduce((n, [h, c]) => n + (clusterOfHost[h] === 'a' ? c : 0), 0);
  return a / total;
};

afterAll(async () => {
  await Promise.all([lb.close(), lb2.close(), ...[...apps.values()].map((t) => t.close())]);
});

describe.each(['haproxy', 'apache', 'nginx-lua'] as const)('%s weights', (driver) => {
  let b: Balancer;
  let publicUrl: string;

  beforeAll(() => {
    const m = make(driver);
    b = m.balancer;
    publicUrl = `http://${lab.balancer.address}:${m.port}`;
  });
  // Whatever a test did, every member goes back into the pool with the same weight.
  afterEach(async () => {
    await b.ready(names);
    await b.setWeights(even);
  });

  it('sets weights and reads them back (and, where the driver keeps a file, the file says the same)', async () => {
    expect(b.weighing()).toMatchObject({ can: true, min: 1 });
    expect(await b.weights()).toEqual(even);
    await b.setWeights(canary);
    expect(await b.weights()).toEqual(canary);
    const file = await persistedWeights(driver);
    if (file !== undefined) expect(file).toEqual(canary);
    await b.setWeights(even);
    expect(await b.weights()).toEqual(even);
    if (file !== undefined) expect(await persistedWeights(driver)).toEqual(even);
  });

  it(`sends about 5 % of ${REQUESTS} requests to cluster a weighted 1 against 19, and about half once the weights are even again`, async () => {
    await b.setWeights(canary);
    const weighted = shareOfA(await spread(publicUrl));
    await b.setWeights(even);
    const evened = shareOfA(await spread(publicUrl));
    console.log(
      `${driver}: cluster a took ${(weighted * 100).toFixed(1)} % of ${REQUESTS} requests at 1:19, ${(evened * 100).toFixed(1)} % at 1:1`,
    );
    expect(weighted).toBeGreaterThanOrEqual(0.02);
    expect(weighted).toBeLessThanOrEqual(0.1);
    expect(evened).toBeGreaterThanOrEqual(0.4);
    expect(evened).toBeLessThanOrEqual(0.6);
  });

  it('still drains a weighted member: none of its new requests, its weight kept, traffic back once ready', async () => {
    await b.setWeights(canary);
    const heavy = inB[0] as string;
    await b.drain([heavy]);
    expect((await b.members()).find((m) => m.name === heavy)?.state).toBe('drain');
    expect((await b.weights())[heavy]).toBe(19);
    const during = await spread(publicUrl, 80);
    expect(Object.keys(during)).not.toContain(hostOf[heavy]);
    await b.ready([heavy]);
    expect((await b.members()).find((m) => m.name === heavy)?.state).toBe('ready');
    expect(await b.weights()).toEqual(canary);
    expect(Object.keys(await spread(publicUrl, 80))).toContain(hostOf[heavy]);
  });

  it("refuses, before changing anything, a weight outside the driver's range and a member the backend does not have", async () => {
    const max = (b.weighing() as { max: number }).max;
    for (const bad of [{ [names[0] as string]: 0 }, { [names[0] as string]: max + 1 }, { [names[0] as string]: 1.5 }]) {
      const err = await b.setWeights(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(new RegExp(`takes weights from 1 to ${max}`));
    }
    const err = await b.setWeights({ [names[0] as string]: 5, web9z: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/has no member web9z: members are /);
    expect(await b.weights()).toEqual(even);
  });
});

describe('nginx in mode: file', () => {
  const nginx = new NginxBalancer(lb, {
    upstream: lab.balancer.nginx.upstream,
    upstreamFile: lab.balancer.nginx.upstreamFile,
    pidFile: lab.balancer.nginx.pidFile,
    appTransport: async (m) => apps.get(m.address) as SshCliTransport,
  });

  it('refuses to weigh members, saying why and what to use, and touches nothing', async () => {
    const before = (await lb.run(['cat', '--', lab.balancer.nginx.upstreamFile])).stdout;
    expect(nginx.weighing()).toMatchObject({ can: false });
    const err = await nginx.setWeights(canary).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('nginx in mode: file cannot weigh members; use mode: lua');
    expect((await lb.run(['cat', '--', lab.balancer.nginx.upstreamFile])).stdout).toBe(before);
    expect(await nginx.weights()).toEqual(even);
  });
});

describe('HAProxy with a server-state file', () => {
  it('keeps the weights through a reload (they are saved with the state, as drains are)', async () => {
    const b = new HaproxyBalancer(lb, {
      backend: lab.balancer.haproxy.backend,
      socket: lab.balancer.haproxy.socket,
      serverStateFile: '/var/lib/haproxy/server-state',
    });
    try {
      await b.setWeights(canary);
      const pid = await onHost(lab.balancer.host, 'cat /run/haproxy.pid');
      await onHost(
        lab.balancer.host,
        'haproxy -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid -x /run/haproxy/admin.sock -sf "$(cat /run/haproxy.pid)"',
      );
      expect(await onHost(lab.balancer.host, 'cat /run/haproxy.pid')).not.toBe(pid);
      const deadline = Date.now() + 10_000;
      let after: Record<string, number> = {};
      while (Date.now() < deadline) {
        after = await b.weights().catch(() => ({}));
        if (JSON.stringify(after) === JSON.stringify(canary)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(after).toEqual(canary);
      expect(shareOfA(await spread(`http://${lab.balancer.address}:${lab.balancer.haproxy.port}`, 200))).toBeLessThan(
        0.1,
      );
    } finally {
      await b.setWeights(even);
      await b.close();
    }
  });
});

describe('a pair of HAProxy balancers', () => {
  const haproxy = (t: SshCliTransport) =>
    new HaproxyBalancer(t, { backend: lab.balancer.haproxy.backend, socket: lab.balancer.haproxy.socket });
  const set = new BalancerSet({ host: 'lb.baton.test', balancer: haproxy(lb) }, [
    { host: 'lb2.baton.test', balancer: haproxy(lb2) },
  ]);
  afterEach(async () => {
    await Promise.all([haproxy(lb).setWeights(even), haproxy(lb2).setWeights(even)]);
  });

  it('sets the weights on both and reads them back from each; one weighed differently by hand is a disagreement naming both', async () => {
    await set.setWeights(canary);
    expect(await haproxy(lb).weights()).toEqual(canary);
    expect(await haproxy(lb2).weights()).toEqual(canary);
    expect(await set.weights()).toEqual(canary);

    const heavy = inB[0] as string;
    await haproxy(lb2).setWeights({ [heavy]: 7 }); // someone at lb2's runtime API
    const err = await set.weights().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancersDisagreeError);
    expect((err as Error).message).toContain(`${heavy}: weight 19 on lb.baton.test, 7 on lb2.baton.test`);
  });
});
