// The HAProxy driver, membership matching and smoke checks against the lab's real HAProxy 2.6
// (runtime socket on lb.baton.test) and real app hosts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitForDrain } from '../../src/balancers/drain.js';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { matchMembers } from '../../src/balancers/membership.js';
import { httpRequest } from '../../src/checks/http.js';
import { waitForLocalHealth } from '../../src/checks/local-health.js';
import { runSmoke, smokeCluster, smokeFailures } from '../../src/checks/smoke.js';
import type { HostRef } from '../../src/config/config.js';
import { ExternalCommandError, OperationFailedError } from '../../src/errors.js';
import { appHosts, type Lab, readLab } from './helpers/lab.js';
import { SshCliTransport } from './helpers/ssh-cli-transport.js';

const SLOW_MS = 2000;

let lab: Lab;
let lb: SshCliTransport;
let hap: HaproxyBalancer;
let names: string[];
let hostOf: Record<string, string>;
let publicUrl: string;

beforeAll(() => {
  lab = readLab();
  lb = new SshCliTransport(lab.balancer.host);
  const h = lab.balancer.haproxy;
  hap = new HaproxyBalancer(lb, { backend: h.backend, socket: h.socket, configFile: h.config });
  names = appHosts(lab).map((x) => x.member as string);
  hostOf = Object.fromEntries(appHosts(lab).map((x) => [x.member, x.name]));
  publicUrl = `http://${lab.balancer.address}:${h.port}`;
});

// Whatever a test did, every member goes back into the pool.
afterEach(async () => {
  await hap.ready(names);
});
afterAll(async () => {
  await hap.ready(names);
  await lb.close();
});

/** GET through the public frontend; which host answered and when it was done. */
async function viaPublic(path: string) {
  const a = await httpRequest(`${publicUrl}${path}`, { timeoutMs: 10_000 });
  return { status: a.status, host: a.headers['x-host'], doneAt: performance.now() };
}

describe('HaproxyBalancer on the lab', () => {
  it('lists the four servers of the backend with their addresses', async () => {
    const members = await hap.members();
    const want = appHosts(lab).map((x) => ({ name: x.member, address: x.address, port: 8000 }));
    expect(members.map((m) => ({ name: m.name, address: m.address, port: m.port }))).toEqual(want);
    expect(members.every((m) => ['ready', 'drain', 'maint', 'down'].includes(m.state))).toBe(true);
  });

  it('drains in one round trip, reads drain back, and makes ready again', async () => {
    const before = lb.runs;
    const t0 = performance.now();
    await hap.drain(['web1a', 'web2a']);
    console.log(
      `drain of 2 members with read-back: ${lb.runs - before} round trip, ${Math.round(performance.now() - t0)} ms`,
    );
    expect(lb.runs - before).toBe(1);
    const admin = async (n: string) => (await hap.members()).find((m) => m.name === n)?.admin;
    expect(await admin('web1a')).toBe('drain');
    expect(await admin('web2a')).toBe('drain');

    await hap.ready(['web1a', 'web2a']);
    expect(await admin('web1a')).toBe('ready');

    await hap.maint(['web2b']);
    expect((await hap.members()).find((m) => m.name === 'web2b')?.state).toBe('maint');
  });

  it('waits for a request in flight on a drained member, while new requests go elsewhere', async () => {
    // Slow requests on every server (round robin), then drain one that has one running. The
    // lab is shared, so the member is whichever in-service one got a slow request.
    const t0 = performance.now();
    const slow = Array.from({ length: 8 }, () => viaPublic(`/slow?ms=${SLOW_MS}`));
    let victim: string | undefined;
    let inFlight = 0;
    for (let i = 0; i < 20 && !victim; i++) {
      const busy = (await hap.members()).filter((m) => m.state === 'ready' && m.sessions > 0);
      victim = busy[0]?.name;
      inFlight = busy[0]?.sessions ?? 0;
      if (!victim) await new Promise((r) => setTimeout(r, 50));
    }
    expect(victim).toBeDefined();
    const name = victim as string;

    await hap.drain([name]);
    const drainedAt = performance.now();
    const fresh = Promise.all(Array.from({ length: 20 }, () => viaPublic('/')));
    const progress: Record<string, number>[] = [];
    const r = await waitForDrain(hap, [name], { timeoutMs: 10_000, onProgress: (p) => progress.push(p.busy) });
    const doneAt = performance.now();

    expect(r.drained).toBe(true);
    expect(progress[0]?.[name]).toBeGreaterThanOrEqual(1);
    const answers = await Promise.all(slow);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const onDrained = answers.filter((a) => a.host === hostOf[name]);
    expect(onDrained.length).toBeGreaterThanOrEqual(1);
    const lastOnDrained = Math.max(...onDrained.map((a) => a.doneAt));
    // Returned only after the slow request finished, and soon after it (a poll and a round trip).
    expect(doneAt).toBeGreaterThanOrEqual(lastOnDrained - 50);
    expect(doneAt - lastOnDrained).toBeLessThan(1000);
    expect(doneAt - t0).toBeGreaterThanOrEqual(SLOW_MS - 100);
    console.log(
      `drain: ${inFlight} in flight on ${name}; waited ${Math.round(doneAt - drainedAt)} ms after drain; ` +
        `drained seen ${Math.round(doneAt - lastOnDrained)} ms after its last slow answer; ${r.polls} polls`,
    );

    const hosts = (await fresh).map((a) => a.host);
    expect(hosts).toHaveLength(20);
    expect(hosts).not.toContain(hostOf[name]);
  });

  it('cuts sessions off with shutdown sessions', async () => {
    const slow = Array.from({ length: 8 }, () => viaPublic(`/slow?ms=${SLOW_MS}`).catch((e: Error) => e));
    await new Promise((r) => setTimeout(r, 300));
    await hap.drain(['web2b']);
    await hap.cutOff(['web2b']);
    const r = await waitForDrain(hap, ['web2b'], { timeoutMs: 1000 });
    expect(r.drained).toBe(true);
    await Promise.all(slow);
  });

  it('counts requests sent through the public frontend', async () => {
    const before = await hap.counters();
    await Promise.all(Array.from({ length: 10 }, () => viaPublic('/')));
    const after = await hap.counters();
    expect(after.requests - before.requests).toBeGreaterThanOrEqual(10);
    expect(after.http5xx).toBeGreaterThanOrEqual(before.http5xx);
    expect(after.redispatches).toBeGreaterThanOrEqual(0);
  });

  it('names the member HAProxy refused and what it said', async () => {
    const err = await hap.drain(['web1a', 'web9']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toContain('web9: No such server.');
  });

  it('validates the running config with haproxy -c, and reports a broken one', async () => {
    await hap.configTest();
    const broken = new HaproxyBalancer(lb, {
      backend: 'web',
      socket: lab.balancer.haproxy.socket,
      configFile: '/nonexistent/haproxy.cfg',
    });
    await expect(broken.configTest()).rejects.toBeInstanceOf(ExternalCommandError);
  });
});

describe('membership on the lab', () => {
  it('matches every lab host to its server, by address and by name', async () => {
    const members = await hap.members();
    const refs = (c: 'a' | 'b', byName: boolean): HostRef[] =>
      appHosts(lab)
        .filter((h) => h.cluster === c)
        .map((h) => ({ host: h.name, cluster: c, ...(byName ? { member: h.member } : {}) }));
    const resolve = Object.fromEntries(appHosts(lab).map((h) => [h.name, h.address]));
    const m = await matchMembers({ a: { hosts: refs('a', false) }, b: { hosts: refs('b', true) } }, members, {
      backend: 'web',
      resolve,
    });
    expect(m.a.map((x) => `${x.host}=${x.member}:${x.port}`)).toEqual([
      'web-1.prod-a.baton.test=web1a:8000',
      'web-2.prod-a.baton.test=web2a:8000',
    ]);
    expect(m.b.map((x) => x.member)).toEqual(['web1b', 'web2b']);

    await expect(
      matchMembers({ a: { hosts: refs('a', false) }, b: { hosts: [] } }, members, { backend: 'web', resolve }),
    ).rejects.toThrow(/member web1b \(10\.213\.7\.41\) of backend web is claimed by no cluster/);
  });
});

describe('smoke checks on the lab', () => {
  const resolve = () => ({
    'prod-a.baton.test': lab.balancer.address,
    ...Object.fromEntries(appHosts(lab).map((h) => [h.name, h.address])),
  });
  const clusterA = () =>
    appHosts(lab)
      .filter((h) => h.cluster === 'a')
      .map((h) => ({ host: h.name, port: 8000 }));

  it('pass through prod-a.baton.test (pinned to the balancer) and on each host of cluster a', async () => {
    const report = await smokeCluster(
      {
        smoke: {
          checks: [
            { path: '/healthz', method: 'GET', status: 200 },
            { path: '/', method: 'GET', status: 200, contains: 'Welcome', maxMs: 800 },
          ],
          deadlineMs: 10_000,
        },
        resolve: resolve(),
        clusters: { a: { internal: 'prod-a.baton.test' } },
      },
      'a',
      clusterA(),
    );
    expect(smokeFailures(report)).toEqual([]);
    expect(report.results.map((r) => r.target)).toEqual([
      'prod-a.baton.test',
      'prod-a.baton.test',
      'web-1.prod-a.baton.test',
      'web-1.prod-a.baton.test',
      'web-2.prod-a.baton.test',
      'web-2.prod-a.baton.test',
    ]);
  });

  it('reach only cluster a through its internal name', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const a = await httpRequest('http://prod-a.baton.test/version', { resolve: resolve(), timeoutMs: 5000 });
      seen.add(a.headers['x-host'] ?? '');
    }
    expect([...seen].every((h) => h.endsWith('.prod-a.baton.test'))).toBe(true);
  });

  it('fail naming the target and what came back', async () => {
    const report = await runSmoke(
      [{ path: '/', contains: 'nope' }],
      [{ name: 'prod-a.baton.test', baseUrl: 'http://prod-a.baton.test' }],
      {
        deadlineMs: 1000,
        resolve: resolve(),
      },
    );
    expect(report.ok).toBe(false);
    const [line] = smokeFailures(report);
    expect(line).toMatch(
      new RegExp(
        /^GET \/ on prod-a\.baton\.test \(http:\/\/prod-a\.baton\.test\/\) failed after \d+ attempts: body /.source +
          /does not contain "nope"/.source,
      ),
    );
    expect(line).toContain('body: "Welcome to the baton lab shop');
  });
});

describe('local health on a lab host', () => {
  it('answers 2xx on the host itself, and names host, URL and what it saw when not', async () => {
    const host = new SshCliTransport(appHosts(lab)[0]!.name);
    try {
      expect(await waitForLocalHealth(host, 'http://127.0.0.1:8000/healthz', 5000)).toMatchObject({
        status: 200,
        attempts: 1,
      });
      await expect(waitForLocalHealth(host, 'http://127.0.0.1:8999/healthz', 1500)).rejects.toThrow(
        new RegExp(
          /^web-1\.prod-a\.baton\.test: http:\/\/127\.0\.0\.1:8999\/healthz not healthy after \d+ ms \(\d+ /.source +
            /attempts\); last answer: none \(curl: \(7\)/.source,
        ),
      );
    } finally {
      await host.close();
    }
  });
});
