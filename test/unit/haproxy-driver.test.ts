import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { createBalancer } from '../../src/balancers/index.js';
import { ExternalCommandError, OperationFailedError, UserError } from '../../src/errors.js';
import type { Transport } from '../../src/transport/types.js';
import { CannedTransport } from '../helpers/scripted-transport.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/haproxy/${name}`, import.meta.url), 'utf8');
const STAT = fixture('local-show-stat-in-flight.csv');
const STATE = fixture('local-show-servers-state.txt');

/** What HAProxy answers to `set …;set …;show stat;show servers state`: an empty answer per accepted set. */
const answer = (sets: string[], stat: string, state: string) => `${sets.map((s) => `${s}\n`).join('')}${stat}${state}`;

const balancer = (t: Transport) => new HaproxyBalancer(t, { backend: 'web', socket: '/run/haproxy/admin.sock' });

describe('HaproxyBalancer', () => {
  it('lists members in one round trip', async () => {
    const t = new CannedTransport([{ stdout: `${STAT}${STATE}` }]);
    const members = await balancer(t).members();
    expect(members.map((m) => `${m.name}@${m.address}:${m.port}=${m.state}`)).toEqual([
      'web1a@127.0.0.1:18001=drain',
      'web2a@127.0.0.1:18002=maint',
      'web1b@127.0.0.1:18003=ready',
      'web2b@127.0.0.1:18004=down',
      'dead1@127.0.0.1:18009=maint',
    ]);
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]?.argv).toEqual(['socat', '-t', '5', 'stdio', '/run/haproxy/admin.sock']);
    expect(t.calls[0]?.opts?.stdin).toBe('show stat web 4 -1;show servers state web\n');
  });

  it('samples members and the backend counters in one round trip', async () => {
    const t = new CannedTransport([{ stdout: `${STAT}${STATE}` }]);
    const read = await balancer(t).sample();
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]?.opts?.stdin).toBe('show stat web 6 -1;show servers state web\n');
    expect(read.members.map((m) => `${m.name}=${m.state}/${m.sessions}`)).toContain('web1a=drain/1');
    expect(read.members.some((m) => m.name === 'BACKEND')).toBe(false);
    expect(read).toMatchObject({ requests: 24, http5xx: 12 }); // the BACKEND row's req_tot and hrsp_5xx
  });

  it('drains several members and reads the state back in ONE round trip', async () => {
    const state = STATE.replace(/^(3 web 3 web1b 127\.0\.0\.1 2) 0 /m, '$1 8 ');
    const t = new CannedTransport([{ stdout: answer(['', ''], STAT, state) }]);
    await balancer(t).drain(['web1a', 'web1b']);
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]?.opts?.stdin).toBe(
      'set server web/web1a state drain;set server web/web1b state drain;show stat web 4 -1;show servers state web\n',
    );
  });

  it('names the member whose state does not read back', async () => {
    // web1b is asked to drain but reads back ready.
    const t = new CannedTransport([{ stdout: answer(['', ''], STAT, STATE) }]);
    const err = await balancer(t)
      .drain(['web1a', 'web1b'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toBe(
      'haproxy on lb.example.com: backend web did not take state drain: web1b: reads back ready',
    );
  });

  it("reports HAProxy's refusal for each member it refused", async () => {
    const t = new CannedTransport([{ stdout: answer(['', 'No such server.\n'], STAT, STATE) }]);
    await expect(balancer(t).ready(['web1b', 'web9'])).rejects.toThrow(
      'haproxy on lb.example.com refused to set to ready members of backend web: web9: No such server.',
    );
  });

  it('refuses a member name before sending anything', async () => {
    const t = new CannedTransport([]);
    await expect(balancer(t).drain(['web1a;shutdown sessions server web/web1b'])).rejects.toThrow(UserError);
    expect(t.calls).toHaveLength(0);
  });

  it('counts sessions plus queue per member', async () => {
    const stat = STAT.replace(/^web,web1a,0,/m, 'web,web1a,3,');
    const t = new CannedTransport([{ stdout: stat }]);
    expect(await balancer(t).sessions(['web1a', 'web2a'])).toEqual({ web1a: 4, web2a: 0 });
    expect(t.calls[0]?.opts?.stdin).toBe('show stat web 4 -1\n');
  });

  it('fails on a member the backend does not have, listing the ones it has', async () => {
    const t = new CannedTransport([{ stdout: STAT }]);
    await expect(balancer(t).sessions(['web9'])).rejects.toThrow(
      'has no member web9: members are web1a, web2a, web1b, web2b, dead1',
    );
  });

  it('reads counters from the backend row', async () => {
    const t = new CannedTransport([{ stdout: STAT }]);
    expect(await balancer(t).counters()).toEqual({ requests: 24, http5xx: 12, redispatches: 7, retries: 0 });
    expect(t.calls[0]?.opts?.stdin).toBe('show stat web 6 -1\n');
  });

  it('cuts sessions off with shutdown sessions', async () => {
    const t = new CannedTransport([{ stdout: '\n\n' }]);
    await balancer(t).cutOff(['web1a', 'web2a']);
    expect(t.calls[0]?.opts?.stdin).toBe('shutdown sessions server web/web1a;shutdown sessions server web/web2a\n');
  });

  it('turns an unknown backend into a user error quoting HAProxy', async () => {
    const t = new CannedTransport([{ stdout: 'No such proxy.\n\n' }]);
    await expect(balancer(t).members()).rejects.toThrow(/answered for backend web: No such proxy\./);
  });

  it('runs haproxy -c on the configured file and reports its complaint', async () => {
    const t = new CannedTransport([
      {},
      { code: 1, stderr: "[ALERT] config : parsing [/etc/haproxy/haproxy.cfg:12] : unknown keyword 'servr'" },
    ]);
    const b = new HaproxyBalancer(t, {
      backend: 'web',
      socket: '/run/haproxy/admin.sock',
      configFile: '/etc/haproxy/haproxy.cfg',
    });
    await b.configTest();
    expect(t.calls[0]?.argv).toEqual(['sudo', '-n', '--', 'haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg']);
    const err = await b.configTest().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect((err as Error).message).toContain("unknown keyword 'servr'");
  });

  it('does nothing for an empty change', async () => {
    const t = new CannedTransport([]);
    await balancer(t).drain([]);
    await balancer(t).cutOff([]);
    expect(t.calls).toHaveLength(0);
  });
});

describe('HaproxyBalancer weights', () => {
  const weighed = (w: Record<string, number>) =>
    STATE.replace(
      /^(3 web \d+ (\S+) \S+ \d+ \d+) 1 /gm,
      (line, head: string, name: string) => `${head} ${w[name] ?? 1} `,
    );

  it('reads each server weight from show servers state (srv_uweight)', async () => {
    const t = new CannedTransport([{ stdout: weighed({ web1b: 19 }) }]);
    expect(await balancer(t).weights()).toEqual({ web1a: 1, web2a: 1, web1b: 19, web2b: 1, dead1: 1 });
    expect(t.calls[0]?.opts?.stdin).toBe('show servers state web\n');
  });

  it('checks the members exist, then sets every weight and reads them back in ONE round trip', async () => {
    const t = new CannedTransport([{ stdout: STATE }, { stdout: `\n\n${weighed({ web1a: 1, web1b: 19 })}` }]);
    await balancer(t).setWeights({ web1a: 1, web1b: 19 });
    expect(t.calls).toHaveLength(2);
    expect(t.calls[0]?.opts?.stdin).toBe('show servers state web\n');
    expect(t.calls[1]?.argv).toEqual(['socat', '-t', '5', 'stdio', '/run/haproxy/admin.sock']);
    expect(t.calls[1]?.opts?.stdin).toBe('set weight web/web1a 1;set weight web/web1b 19;show servers state web\n');
  });

  it('names the member whose weight does not read back', async () => {
    const t = new CannedTransport([{ stdout: STATE }, { stdout: `\n\n${weighed({ web1a: 1 })}` }]);
    const err = await balancer(t)
      .setWeights({ web1a: 1, web1b: 19 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toBe(
      'haproxy on lb.example.com: backend web did not take the weights: web1b: reads back 1',
    );
  });

  it("reports HAProxy's refusal, naming the member", async () => {
    const refusal = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.";
    const t = new CannedTransport([{ stdout: STATE }, { stdout: `${refusal}\n\n${STATE}` }]);
    await expect(balancer(t).setWeights({ web1b: 19 })).rejects.toThrow(
      `haproxy on lb.example.com refused to weigh members of backend web: web1b: ${refusal}`,
    );
  });

  it.each([0, 257, 2.5, -3])('refuses the weight %s before sending anything', async (w) => {
    const t = new CannedTransport([]);
    const err = await balancer(t)
      .setWeights({ web1a: 1, web1b: w })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      `haproxy backend web on lb.example.com takes weights from 1 to 256 (whole numbers), not web1b ${w}`,
    );
    expect(t.calls).toHaveLength(0);
  });

  it('refuses a member the backend does not have, by its name, before setting any weight', async () => {
    const t = new CannedTransport([{ stdout: STATE }]);
    const err = await balancer(t)
      .setWeights({ web1a: 2, web9z: 2 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      'haproxy backend web on lb.example.com has no member web9z: members are web1a, web2a, web1b, web2b, dead1',
    );
    expect(t.calls).toHaveLength(1);
  });

  it('says its range', () => {
    expect(balancer(new CannedTransport([])).weighing()).toEqual({ can: true, min: 1, max: 256 });
  });
});

describe('createBalancer', () => {
  const base = { host: 'lb', backend: 'web', drainTimeout: 60_000, cutOffAfterDrainTimeout: false };
  it('makes the haproxy driver', () => {
    const b = createBalancer(
      { balancer: { ...base, driver: 'haproxy', socket: '/run/haproxy/admin.sock' } },
      new CannedTransport([]),
    );
    expect(b.driver).toBe('haproxy');
  });
  it('makes the apache driver', () => {
    const apache = {
      ...base,
      driver: 'apache' as const,
      managerUrl: 'http://lb/balancer-manager',
      configFile: '/etc/apache2/sites-enabled/000-default.conf',
      ctl: 'apache2ctl',
      errorLog: '/var/log/apache2/error.log',
    };
    expect(createBalancer({ balancer: apache }, new CannedTransport([])).driver).toBe('apache');
  });
  it('refuses nginx without the app hosts, whose connections tell when a drain is over', () => {
    const nginx = {
      ...base,
      driver: 'nginx' as const,
      mode: 'file' as const,
      upstreamFile: '/etc/nginx/up.conf',
      nginx: 'nginx',
      pidFile: '/run/nginx.pid',
      errorLog: '/var/log/nginx/error.log',
    };
    expect(() => createBalancer({ balancer: nginx }, new CannedTransport([]))).toThrow(
      /needs the clusters and the app hosts/,
    );
  });
});
