// The ready step after a smoke check tells the balancer its members are healthy before returning
// them (no wait for its own checks to rise); a ready step without that flag (a reversal's) does not.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Balancer, Member } from '../../src/balancers/types.js';
import type { Step } from '../../src/model/plan.js';
import type { StepEnv } from '../../src/steps/env.js';
import { describeRest, runFlip, runReady } from '../../src/steps/pool.js';

function fakeBalancer(calls: string[]): Balancer {
  const members: Member[] = [
    { name: 'web1a', address: '10.0.0.11', state: 'drain', healthy: false, sessions: 0, queued: 0 },
  ];
  let reads = 0;
  return {
    driver: 'haproxy',
    // Its own checks rise on the third read after it is back in the pool.
    members: async () => {
      calls.push('read');
      if (members[0]!.state === 'ready' && ++reads >= 3) members[0] = { ...members[0]!, healthy: true };
      return members;
    },
    drain: async (n) => void calls.push(`drain ${n.join(',')}`),
    ready: async (n) => {
      calls.push(`ready ${n.join(',')}`);
      members[0] = {
        ...members[0]!,
        state: 'ready',
        healthy: calls.some((c) => c.startsWith('vouch')) ? true : members[0]!.healthy,
      };
    },
    vouchHealthy: async (n) => void calls.push(`vouch ${n.join(',')}`),
    cutOff: async () => {},
    sessions: async () => ({}),
    counters: async () => ({ requests: 0, http5xx: 0, redispatches: 0, retries: 0 }),
    configTest: async () => {},
    weighing: () => ({ can: true, min: 1, max: 256 }),
    weights: async () => ({ web1a: 1 }),
    setWeights: async () => {},
  };
}

const env = (balancer: Balancer) => ({ balancer, config: { smoke: { deadlineMs: 100 } } }) as unknown as StepEnv;
const ready: Step = { id: 'ready-a', kind: 'ready', title: 'ready', cluster: 'a', members: ['web1a'], undo: [] };

describe('returning smoke-checked members to the pool', () => {
  it('vouches for them first, and is done at the first read', async () => {
    const calls: string[] = [];
    await runReady({ ...ready, vouchHealthy: true }, env(fakeBalancer(calls)), () => {});
    expect(calls).toEqual(['vouch web1a', 'ready web1a', 'read']);
  });

  it("a ready step without the flag (a reversal's) waits for the balancer's own checks to rise", async () => {
    const calls: string[] = [];
    await runReady(ready, env(fakeBalancer(calls)), () => {});
    expect(calls).toEqual(['ready web1a', 'read', 'read', 'read']);
  });

  it('a flip vouches for the members it returns, not the ones it drains', async () => {
    const calls: string[] = [];
    const flip: Step = {
      id: 'flip-a',
      kind: 'flip',
      title: 'flip',
      cluster: 'a',
      members: ['web1b'],
      readyMembers: ['web1a'],
      vouchHealthy: true,
      undo: [],
    };
    await runFlip(flip, env(fakeBalancer(calls)), () => {});
    expect(calls).toEqual(['vouch web1a', 'ready web1a', 'read', 'drain web1b']);
  });
});

// Apache rests a worker in error state (Err) for its retry (60 s unless set), and nothing clears
// it from outside: returning it waits out that rest, past the usual 10 s, and says why.
describe('returning members the balancer rests after failed requests', () => {
  afterEach(() => void vi.useRealTimers());

  /** web1a and web2a rest until `restEndsAt` (and again after it when `failsAgain`); reads are counted. */
  function restingBalancer(restEndsAt: number, failsAgain = false): Balancer & { reads: number } {
    const b = {
      ...fakeBalancer([]),
      driver: 'apache' as const,
      reads: 0,
      members: async (): Promise<Member[]> => {
        b.reads++;
        return ['web1a', 'web2a'].map((name) => {
          const leftMs = failsAgain ? 60_000 : restEndsAt - Date.now();
          return leftMs > 0
            ? {
                name,
                address: name,
                state: 'down',
                healthy: false,
                resting: { leftMs, retryMs: 60_000 },
                sessions: 0,
                queued: 0,
              }
            : { name, address: name, state: 'ready', healthy: true, sessions: 0, queued: 0 };
        });
      },
    };
    return b;
  }
  const both: Step = { ...ready, members: ['web1a', 'web2a'] };

  it('waits out the rest left (48 s here, past the 10 s it waits otherwise) and says why', async () => {
    vi.useFakeTimers();
    const b = restingBalancer(Date.now() + 48_000);
    const lines: string[] = [];
    const done = runReady(both, env(b), (l) => lines.push(l));
    await vi.advanceTimersByTimeAsync(50_000);
    await expect(done).resolves.toEqual({ ready: ['web1a', 'web2a'] });
    expect(lines[0]).toBe('apache rests web1a, web2a after failed requests for up to 48 s more (retry 60 s)');
    expect(lines.at(-1)).toMatch(/^apache rests web1a, web2a after failed requests for up to 1 s more/);
    expect(b.reads).toBeGreaterThan(400);
  });

  it('waits one rest only: a member resting again after it is not up, and says it rests', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    let failedAt = 0;
    const done = runReady(both, env(restingBalancer(0, true)), () => {}).catch((e: unknown) => {
      failedAt = Date.now();
      return e;
    });
    await vi.advanceTimersByTimeAsync(70_000);
    const err = await done;
    expect((err as Error).message).toBe(
      'members web1a (down, failing health checks, resting after failed requests), ' +
        'web2a (down, failing health checks, resting after failed requests) are not up in the pool',
    );
    // 60 s of rest and the 2 s it is given after: not the 10 s of a member merely down.
    expect(failedAt - start).toBeGreaterThanOrEqual(62_000);
    expect(failedAt - start).toBeLessThan(63_000);
  });

  it('a member merely down still gets the usual wait', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    const lines: string[] = [];
    const down: Balancer = {
      ...fakeBalancer([]),
      members: async () => [{ name: 'web1a', address: 'x', state: 'down', healthy: false, sessions: 0, queued: 0 }],
    };
    let failedAt = 0;
    const done = runReady(ready, env(down), (l) => lines.push(l)).catch((e: unknown) => {
      failedAt = Date.now();
      return e;
    });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(((await done) as Error).message).toBe('members web1a (down, failing health checks) are not up in the pool');
    expect(failedAt - start).toBeGreaterThanOrEqual(10_000);
    expect(failedAt - start).toBeLessThan(10_300);
    expect(new Set(lines)).toEqual(new Set(['waiting for the balancer to see web1a up']));
  });

  it('names each retry once when members rest different retries', () => {
    const m = (name: string, leftMs: number, retryMs: number): Member => ({
      name,
      address: name,
      state: 'down',
      healthy: false,
      resting: { leftMs, retryMs },
      sessions: 0,
      queued: 0,
    });
    expect(describeRest('apache', [m('a', 4_200, 5_000), m('b', 30_000, 60_000), m('c', 100, 60_000)])).toBe(
      'apache rests a, b, c after failed requests for up to 30 s more (retry 5 s, 60 s)',
    );
  });
});
