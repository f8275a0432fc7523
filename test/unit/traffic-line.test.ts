// What a person watching a run reads about traffic: the line per cluster, how often the terminal
// redraws it, and how often a CI log gets it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PlainReporter } from '../../src/engine/reporter.js';
import { latestEvery, trafficLine } from '../../src/engine/traffic-line.js';
import type { MemberSample, TrafficSample } from '../../src/engine/traffic.js';

const at = '2026-11-30T00:00:00.000Z';
const member = (
  name: string,
  cluster: 'a' | 'b' | undefined,
  state: MemberSample['state'],
  sessions: number,
): MemberSample => ({
  name,
  ...(cluster ? { cluster } : {}),
  state,
  sessions,
});
const sample = (aSessions: number, bSessions: number): TrafficSample => ({
  at,
  members: [
    member('a1', 'a', 'ready', aSessions),
    member('a2', 'a', 'ready', 0),
    member('b1', 'b', 'drain', bSessions),
    member('b2', 'b', 'maint', 0),
  ],
});

describe('trafficLine', () => {
  it('gives sessions and pool members per cluster, and says which cluster drains', () => {
    expect(trafficLine(sample(12, 0))).toBe(
      'cluster a: 12 sessions, 2/2 in the pool · cluster b: 0 sessions, 0/2 in the pool (draining)',
    );
    expect(trafficLine(sample(1, 3))).toContain('cluster a: 1 session, 2/2');
  });

  it('leaves out a cluster with no members and members of no cluster', () => {
    expect(trafficLine({ at, members: [member('a1', 'a', 'ready', 4), member('stray', undefined, 'ready', 9)] })).toBe(
      'cluster a: 4 sessions, 1/1 in the pool',
    );
    expect(trafficLine({ at, members: [] })).toBe('');
  });
});

describe('the throttles', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('latestEvery applies at once, then at most once an interval, the newest value only', () => {
    const applied: number[] = [];
    const t = latestEvery<number>(250, (v) => applied.push(v));
    t.push(1);
    t.push(2);
    t.push(3);
    expect(applied).toEqual([1]);
    vi.advanceTimersByTime(250);
    expect(applied).toEqual([1, 3]);
    t.push(4);
    t.flush();
    expect(applied).toEqual([1, 3, 4]);
    vi.advanceTimersByTime(1000);
    expect(applied).toEqual([1, 3, 4]);
  });

  it('a CI log gets a traffic line at most every 5 s, and only when the numbers moved', () => {
    const lines: string[] = [];
    const r = new PlainReporter((l) => lines.push(l));
    r.traffic(sample(12, 3));
    vi.advanceTimersByTime(1000);
    r.traffic(sample(11, 2)); // within 5 s: dropped
    vi.advanceTimersByTime(5000);
    r.traffic(sample(12, 3)); // the same numbers as the last line: dropped
    vi.advanceTimersByTime(5000);
    r.traffic(sample(10, 0));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      / {2}traffic: cluster a: 12 sessions, 2\/2 in the pool · cluster b: 3 sessions, 0\/2 in the pool \(draining\)$/,
    );
    expect(lines[1]).toContain('cluster b: 0 sessions');
  });
});
