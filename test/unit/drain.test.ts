import { describe, expect, it } from 'vitest';
import { waitForDrain } from '../../src/balancers/drain.js';
import type { Balancer, DrainProgress } from '../../src/balancers/types.js';

/** A clock that only moves when the code under test sleeps, and a balancer whose sessions end at set times. */
function fake(endsAt: Record<string, number[]>) {
  let t = 0;
  const calls: number[] = [];
  const balancer: Pick<Balancer, 'sessions'> = {
    async sessions(names) {
      calls.push(t);
      t += 5; // a round trip
      return Object.fromEntries(names.map((n) => [n, (endsAt[n] ?? []).filter((end) => end > t).length]));
    },
  };
  return { balancer, calls, now: () => t, sleep: async (ms: number) => void (t += ms) };
}

describe('waitForDrain', () => {
  it('returns as soon as every member has no sessions left', async () => {
    const f = fake({ web1a: [1000, 2000], web2a: [1500] });
    const progress: DrainProgress[] = [];
    const r = await waitForDrain(f.balancer, ['web1a', 'web2a'], {
      timeoutMs: 60_000,
      now: f.now,
      sleep: f.sleep,
      onProgress: (p) => progress.push(p),
    });
    expect(r.drained).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(2000);
    expect(r.elapsedMs).toBeLessThan(2000 + 105);
    expect(progress[0]).toEqual({ busy: { web1a: 2, web2a: 1 }, elapsedMs: 5 });
    expect(progress.at(-1)).toEqual({ busy: {}, elapsedMs: r.elapsedMs });
    // polled every 100 ms (plus the round trip)
    expect(f.calls[1]! - f.calls[0]!).toBe(105);
  });

  it('does not sleep when already drained', async () => {
    const f = fake({});
    const r = await waitForDrain(f.balancer, ['web1a'], { timeoutMs: 1000, now: f.now, sleep: f.sleep });
    expect(r).toEqual({ drained: true, elapsedMs: 5, polls: 1 });
  });

  it('names the members still busy at the timeout, and how busy', async () => {
    const f = fake({ web1a: [500], web2a: [10_000, 20_000] });
    const r = await waitForDrain(f.balancer, ['web1a', 'web2a'], {
      timeoutMs: 3000,
      pollMs: 250,
      now: f.now,
      sleep: f.sleep,
    });
    expect(r.drained).toBe(false);
    if (!r.drained) expect(r.busy).toEqual({ web2a: 2 });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(3000);
    expect(r.elapsedMs).toBeLessThan(3000 + 10);
  });

  it('works on the real clock with short times', async () => {
    let until = Date.now() + 150;
    const b: Pick<Balancer, 'sessions'> = {
      sessions: async (names) => Object.fromEntries(names.map((n) => [n, Date.now() < until ? 1 : 0])),
    };
    const r = await waitForDrain(b, ['x'], { timeoutMs: 2000, pollMs: 20 });
    expect(r.drained).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(140);
    until = Infinity;
    const r2 = await waitForDrain(b, ['x'], { timeoutMs: 100, pollMs: 20 });
    expect(r2).toMatchObject({ drained: false, busy: { x: 1 } });
  });

  it('asks nothing for no members', async () => {
    const f = fake({});
    expect(await waitForDrain(f.balancer, [], { timeoutMs: 10 })).toMatchObject({ drained: true });
    expect(f.calls).toHaveLength(0);
  });
});
