import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BalancerSet, BalancersDisagreeError } from '../../src/balancers/balancer-set.js';
import { createBalancer } from '../../src/balancers/index.js';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import type {
  BackendCounters,
  Balancer,
  Member,
  MemberState,
  SessionRead,
  TrafficRead,
  Weighing,
} from '../../src/balancers/types.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { observe } from '../../src/engine/observe.js';
import { openSession } from '../../src/engine/session.js';
import { ExitCode, OperationFailedError, UserError } from '../../src/errors.js';
import { RecordingTransports } from '../../src/transport/recording.js';
import type { RunResult, Transport } from '../../src/transport/types.js';

/** A balancer in memory: members' states, sessions per member, and how many changes it refuses before taking one. */
class FakeBalancer implements Balancer {
  readonly driver = 'haproxy' as const;
  readonly changes: string[] = [];
  refusals = 0;
  /** Weights it holds; `ignoresWeights` takes a change and keeps them as they were (a driver that read back wrong). */
  weightsHeld: Record<string, number> = {};
  ignoresWeights = false;
  weighable: Weighing = { can: true, min: 1, max: 256 };
  constructor(
    readonly host: string,
    readonly states: Record<string, MemberState>,
    readonly inFlight: Record<string, number> = {},
    readonly counts: BackendCounters = { requests: 0, http5xx: 0, redispatches: 0, retries: 0 },
  ) {}
  async members(): Promise<Member[]> {
    return Object.entries(this.states).map(([name, state]) => ({
      name,
      address: `10.0.0.${name.length}`,
      state,
      sessions: this.inFlight[name] ?? 0,
      queued: 0,
    }));
  }
  async drain(names: readonly string[]): Promise<void> {
    this.set('drain', names);
  }
  async ready(names: readonly string[]): Promise<void> {
    this.set('ready', names);
  }
  async cutOff(names: readonly string[]): Promise<void> {
    this.set('cut', names);
  }
  async sessions(names: readonly string[]): Promise<Record<string, number>> {
    return Object.fromEntries(names.map((n) => [n, this.inFlight[n] ?? 0]));
  }
  async counters(): Promise<BackendCounters> {
    return this.counts;
  }
  async sample(): Promise<TrafficRead> {
    return { members: await this.members(), requests: this.counts.requests, http5xx: this.counts.http5xx };
  }
  async stickySessions(names: readonly string[]): Promise<SessionRead> {
    return {
      bound: Object.fromEntries(names.map((n) => [n, [{ key: `${this.host}-${n}`, expiresInMs: 1000 }]])),
      idleMs: Object.fromEntries(names.map((n) => [n, this.host === 'lb1' ? 5000 : 200])),
      inFlight: Object.fromEntries(names.map((n) => [n, this.inFlight[n] ?? 0])),
    };
  }
  async configTest(): Promise<void> {}
  weighing(): Weighing {
    return this.weighable;
  }
  async weights(): Promise<Record<string, number>> {
    return Object.fromEntries(Object.keys(this.states).map((n) => [n, this.weightsHeld[n] ?? 1]));
  }
  async setWeights(weights: Readonly<Record<string, number>>): Promise<void> {
    this.set(
      `weigh ${Object.entries(weights)
        .map(([n, w]) => `${n}=${w}`)
        .join(',')}`,
      [],
    );
    if (!this.ignoresWeights) Object.assign(this.weightsHeld, weights);
  }
  private set(what: string, names: readonly string[]): void {
    if (this.refusals > 0) {
      this.refusals--;
      throw new OperationFailedError(`haproxy on ${this.host}: backend web did not take state ${what}`, 'partway');
    }
    this.changes.push(names.length > 0 ? `${what} ${names.join(',')}` : what);
    if (what === 'drain' || what === 'ready') for (const n of names) this.states[n] = what;
  }
}

const pair = (a: FakeBalancer, ...peers: FakeBalancer[]) =>
  new BalancerSet(
    { host: a.host, balancer: a },
    peers.map((p) => ({ host: p.host, balancer: p })),
  );

describe('BalancerSet', () => {
  it('reads the members when the balancers agree, with the sessions through each added up', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'drain', web1b: 'ready' }, { web1a: 2, web1b: 5 });
    const lb2 = new FakeBalancer('lb2', { web1a: 'drain', web1b: 'ready' }, { web1a: 1, web1b: 3 });
    const members = await pair(lb1, lb2).members();
    expect(members.map((m) => `${m.name}=${m.state}/${m.sessions}`)).toEqual(['web1a=drain/3', 'web1b=ready/8']);
  });

  it('ignores health: a member down on one balancer and ready on the other agrees', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'down' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    await expect(pair(lb1, lb2).members()).resolves.toHaveLength(1);
  });

  it('names each balancer and what it says when they disagree, as "nothing changed" (exit 1)', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'drain', web1b: 'ready', web2a: 'maint' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready', web1b: 'ready' });
    const err = await pair(lb1, lb2)
      .members()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancersDisagreeError);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as BalancersDisagreeError).exitCode).toBe(ExitCode.FAILED_RESTORED);
    expect((err as Error).message).toBe(
      'the balancers disagree: web1a: drain on lb1, ready on lb2; web2a: maint on lb1, absent on lb2',
    );
  });

  it('applies a change to every balancer', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    const lb3 = new FakeBalancer('lb3', { web1a: 'ready' });
    const set = pair(lb1, lb2, lb3);
    await set.drain(['web1a']);
    await set.cutOff(['web1a']);
    await set.ready(['web1a']);
    for (const lb of [lb1, lb2, lb3]) expect(lb.changes).toEqual(['drain web1a', 'cut web1a', 'ready web1a']);
  });

  it('asks a peer that refuses once again, and goes on when it takes the change', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    lb2.refusals = 1;
    await pair(lb1, lb2).drain(['web1a']);
    expect(lb1.changes).toEqual(['drain web1a']);
    expect(lb2.changes).toEqual(['drain web1a']);
  });

  it('names the balancer that refuses twice and the ones that took the change, as "needs attention" (exit 2)', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    lb2.refusals = 2;
    const err = await pair(lb1, lb2)
      .drain(['web1a'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as OperationFailedError).exitCode).toBe(ExitCode.NEEDS_ATTENTION);
    expect((err as Error).message).toBe(
      'the balancers did not all take the change (drain web1a): lb2 refused it twice (haproxy on lb2: backend web did not take state drain); lb1 took it',
    );
    expect((err as OperationFailedError).data).toEqual({ refused: ['lb2'], took: ['lb1'] });
  });

  it('sums sessions and counters across balancers, and merges sticky sessions', async () => {
    const lb1 = new FakeBalancer(
      'lb1',
      { web1a: 'drain' },
      { web1a: 2 },
      { requests: 10, http5xx: 1, redispatches: 2, retries: 3 },
    );
    const lb2 = new FakeBalancer(
      'lb2',
      { web1a: 'drain' },
      { web1a: 4 },
      { requests: 5, http5xx: 2, redispatches: 0, retries: 1 },
    );
    const set = pair(lb1, lb2);
    expect(await set.sessions(['web1a'])).toEqual({ web1a: 6 });
    expect(await set.counters()).toEqual({ requests: 15, http5xx: 3, redispatches: 2, retries: 4 });
    const sticky = await set.stickySessions?.(['web1a']);
    expect(sticky?.bound?.['web1a']?.map((s) => s.key)).toEqual(['lb1-web1a', 'lb2-web1a']);
    expect(sticky?.idleMs).toEqual({ web1a: 200 });
    expect(sticky?.inFlight).toEqual({ web1a: 6 });
  });

  it('samples without failing when the balancers disagree, telling the divergence instead', async () => {
    const lb1 = new FakeBalancer(
      'lb1',
      { web1a: 'drain' },
      { web1a: 1 },
      { requests: 7, http5xx: 0, redispatches: 0, retries: 0 },
    );
    const lb2 = new FakeBalancer(
      'lb2',
      { web1a: 'ready' },
      { web1a: 2 },
      { requests: 3, http5xx: 1, redispatches: 0, retries: 0 },
    );
    const read = await pair(lb1, lb2).sample?.();
    expect(read).toMatchObject({ requests: 10, http5xx: 1, divergent: ['web1a: drain on lb1, ready on lb2'] });
    expect(read?.members.map((m) => `${m.name}=${m.state}/${m.sessions}`)).toEqual(['web1a=drain/3']);
  });

  it('offers only the capabilities the driver has', () => {
    const lb1 = new FakeBalancer('lb1', {});
    const set = pair(lb1, new FakeBalancer('lb2', {}));
    expect(set.switchPool).toBeUndefined();
    expect(set.forgetSessions).toBeUndefined();
    expect(set.sample).toBeTypeOf('function');
  });

  it('names the balancer whose configuration test fails', async () => {
    const lb1 = new FakeBalancer('lb1', {});
    const lb2 = new FakeBalancer('lb2', {});
    lb2.configTest = async () => {
      throw new OperationFailedError('haproxy -c failed: line 3', 'unchanged');
    };
    await expect(pair(lb1, lb2).configTest()).rejects.toThrow('balancer lb2: haproxy -c failed: line 3');
  });
});

describe('createBalancer with peers', () => {
  const transport = (host: string): Transport => ({
    host,
    run: async (): Promise<RunResult> => ({ code: 0, stdout: '', stderr: '' }),
    upload: async () => {},
    download: async () => {},
  });
  const balancer = {
    driver: 'haproxy' as const,
    host: 'lb1',
    backend: 'web',
    socket: '/run/haproxy/admin.sock',
    drainTimeout: 60_000,
    cutOffAfterDrainTimeout: false,
  };

  it('returns the driver itself for a single balancer', () => {
    const b = createBalancer({ balancer }, transport('lb1'));
    expect(b).toBeInstanceOf(HaproxyBalancer);
  });

  it('makes a set over the primary and a driver per peer, each through its own transport', () => {
    const asked: string[] = [];
    const b = createBalancer({ balancer: { ...balancer, peers: ['lb2'] } }, transport('lb1'), {
      get: (host) => {
        asked.push(host);
        return transport(host);
      },
    });
    expect(b).toBeInstanceOf(BalancerSet);
    expect((b as BalancerSet).primary.host).toBe('lb1');
    expect((b as BalancerSet).peers.map((p) => p.host)).toEqual(['lb2']);
    expect((b as BalancerSet).peers[0]?.balancer).toBeInstanceOf(HaproxyBalancer);
    expect(asked).toEqual(['lb2']);
  });
});

describe('observing production with a pair of balancers', () => {
  it('refuses a push while the balancers disagree, before anything changes (exit 1)', async () => {
    const config = parseConfig(
      `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb1, backend: web, peers: [lb2] }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: web1a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: web1b }] }
`,
      join(tmpdir(), 'baton.yml'),
    ).config as Config;
    const lb1 = new FakeBalancer('lb1', { web1a: 'drain', web1b: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready', web1b: 'ready' });
    const transports = new RecordingTransports({
      responses: [{ match: () => true, answer: () => ({ stdout: 'v1-1111111\n' }) }],
    });
    const err = await observe(config, pair(lb1, lb2), transports, async () => []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancersDisagreeError);
    expect((err as BalancersDisagreeError).exitCode).toBe(ExitCode.FAILED_RESTORED);
    expect((err as Error).message).toContain('web1a: drain on lb1, ready on lb2');
    expect([...lb1.changes, ...lb2.changes]).toEqual([]);
  });
});

describe('BalancerSet after a change', () => {
  it('a disagreement found once a change was made needs attention (exit 2), not "nothing changed"', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    const set = pair(lb1, lb2);
    await set.drain(['web1a']);
    lb2.states['web1a'] = 'ready'; // someone put it back by hand
    const err = await set.members().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancersDisagreeError);
    expect((err as BalancersDisagreeError).exitCode).toBe(ExitCode.NEEDS_ATTENTION);
  });

  it('a member failing the health checks of any balancer is unhealthy', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'down' });
    const [m] = await pair(lb1, lb2).members();
    expect(m).toMatchObject({ state: 'ready', healthy: false });
  });
});

describe('openSession with peers', () => {
  it("drives every balancer through the session's transports, the lock staying on balancer.host", async () => {
    const config = parseConfig(
      `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb1, backend: web, peers: [lb2], serverStateFile: /var/lib/haproxy/server-state }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: web1a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: web1b }] }
`,
      join(tmpdir(), 'baton.yml'),
    ).config as Config;
    const transports = new RecordingTransports();
    const session = await openSession(config, transports, { secrets: 'none' });
    expect(session.balancer).toBeInstanceOf(BalancerSet);
    await session.balancer.drain(['web1a']).catch(() => undefined); // the recording answers nothing: only who was asked matters
    const asked = transports.calls.flatMap((c) => ('argv' in c ? [`${c.host} ${c.argv[0]} ${c.argv.at(-1)}`] : []));
    expect(asked).toContain('lb1 sh /var/lib/haproxy/server-state');
    expect(asked).toContain('lb2 sh /var/lib/haproxy/server-state');
  });
});

describe('BalancerSet when every balancer refuses', () => {
  it("throws the driver's own error: the balancers still agree", async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    lb1.refusals = 2;
    lb2.refusals = 2;
    await expect(pair(lb1, lb2).drain(['web1a'])).rejects.toThrow(
      'haproxy on lb1: backend web did not take state drain',
    );
  });
});

describe('BalancerSet weights', () => {
  it('sets the weights on every balancer and reads them back from each', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready', web1b: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready', web1b: 'ready' });
    const set = pair(lb1, lb2);
    await set.setWeights({ web1a: 1, web1b: 19 });
    expect(lb1.changes).toEqual(['weigh web1a=1,web1b=19']);
    expect(lb2.changes).toEqual(['weigh web1a=1,web1b=19']);
    expect(await set.weights()).toEqual({ web1a: 1, web1b: 19 });
  });

  it('reports a balancer that holds other weights than the rest, naming each balancer, as a disagreement after a change', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready', web1b: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready', web1b: 'ready' });
    lb2.ignoresWeights = true;
    const err = await pair(lb1, lb2)
      .setWeights({ web1b: 19 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancersDisagreeError);
    expect((err as Error).message).toBe('the balancers disagree: web1b: weight 19 on lb1, 1 on lb2');
    expect((err as BalancersDisagreeError).exitCode).toBe(ExitCode.NEEDS_ATTENTION);
  });

  it('reads a disagreement before any change as one that changed nothing', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    lb2.weightsHeld = { web1a: 5 };
    const err = await pair(lb1, lb2)
      .weights()
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('the balancers disagree: web1a: weight 1 on lb1, 5 on lb2');
    expect((err as BalancersDisagreeError).exitCode).toBe(ExitCode.FAILED_RESTORED);
  });

  it('weighs within the range every balancer takes, and cannot when one cannot, saying which', async () => {
    const lb1 = new FakeBalancer('lb1', { web1a: 'ready' });
    const lb2 = new FakeBalancer('lb2', { web1a: 'ready' });
    lb2.weighable = { can: true, min: 1, max: 100 };
    expect(pair(lb1, lb2).weighing()).toEqual({ can: true, min: 1, max: 100 });
    await expect(pair(lb1, lb2).setWeights({ web1a: 200 })).rejects.toThrow(
      'every balancer takes weights from 1 to 100 (whole numbers), not web1a 200',
    );
    lb2.weighable = { can: false, reason: 'nginx in mode: file cannot weigh members; use mode: lua' };
    expect(pair(lb1, lb2).weighing()).toEqual({
      can: false,
      reason: 'balancer lb2: nginx in mode: file cannot weigh members; use mode: lua',
    });
    await expect(pair(lb1, lb2).setWeights({ web1a: 2 })).rejects.toThrow(UserError);
    expect([...lb1.changes, ...lb2.changes]).toEqual([]);
  });
});
