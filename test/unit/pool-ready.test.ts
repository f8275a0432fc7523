// The ready step after a smoke check tells the balancer its members are healthy before returning
// them (no wait for its own checks to rise); a ready step without that flag (a reversal's) does not.
import { describe, expect, it } from 'vitest';
import type { Balancer, Member } from '../../src/balancers/types.js';
import type { Step } from '../../src/model/plan.js';
import type { StepEnv } from '../../src/steps/env.js';
import { runFlip, runReady } from '../../src/steps/pool.js';

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
