// The run event stream (`--format jsonl`): what the reporter emits for a run that fails and
// reverses, each event valid against the published schema, in the order it happened.
import { describe, expect, it, vi } from 'vitest';
import { JsonLinesReporter, RunEvent } from '../../src/engine/events.js';
import type { Plan, Step } from '../../src/model/plan.js';

const step = (id: string, extra: Partial<Step> = {}): Step =>
  ({
    id,
    kind: 'drain',
    title: `do ${id}`,
    undo: [],
    ...extra,
  }) as Step;

describe('the run event stream', () => {
  it('tells a failing, reversing run event by event, each valid against the schema', () => {
    const drain = step('drain-a', { cluster: 'a', members: ['web1a'] });
    const stage = step('stage', {
      kind: 'stage',
      hosts: ['w1a', 'w2a'],
      releases: { w1a: 'v2-abcdef0', w2a: 'v2-abcdef0' },
    });
    const plan = {
      kind: undefined,
      release: { tag: 'v2', commit: 'abcdef0', dir: 'v2-abcdef0' },
      hash: 'h1',
      forward: [drain, stage],
    } as unknown as Plan;
    const lines: unknown[] = [];
    const r = new JsonLinesReporter(plan, (e) =>
      lines.push(JSON.parse(JSON.stringify({ v: 1, ts: new Date().toISOString(), ...e }))),
    );
    r.stepStarted(drain, 'forward');
    r.stepProgress(drain, '2 sessions left on web1a');
    r.stepProgress(drain, '1 session left on web1a'); // within a second: dropped
    r.stepSucceeded(drain, 'forward', 1250);
    r.stepStarted(stage, 'forward');
    r.stepFailed(stage, 'forward', 300, new Error('on w2a: build failed'));
    r.reversalStarted('stage failed', [step('ready-a', { kind: 'ready' })]);
    r.notice('a second Ctrl-C stops at once');
    const events = lines.map((l) => RunEvent.parse(l));
    expect(events.map((e) => e.event)).toEqual([
      'run-begin',
      'step-begin',
      'step-progress',
      'step-ok',
      'step-begin',
      'step-fail',
      'reversal',
      'notice',
    ]);
    expect(events[0]).toMatchObject({ kind: 'push', tag: 'v2', hash: 'h1', steps: ['drain-a', 'stage'] });
    expect(events[4]).toMatchObject({ step: 'stage', hosts: 2 });
    expect(events[5]).toMatchObject({ step: 'stage', seconds: 0.3, error: 'on w2a: build failed' });
    expect(events[6]).toMatchObject({ steps: ['ready-a'] });
  });

  it("carries a canary step's share, weights, verdict and latency, and the weights a weigh step put back", () => {
    const canary = step('canary-a-1', { kind: 'canary' });
    const weigh = step('canary-a-end', { kind: 'weigh' });
    const plan = { release: { tag: 'v2' }, hash: 'h1', forward: [canary, weigh] } as unknown as Plan;
    const lines: unknown[] = [];
    const r = new JsonLinesReporter(plan, (e) => lines.push({ v: 1, ts: new Date().toISOString(), ...e }));
    const weights = { web1a: 1, web1b: 19 };
    r.stepSucceeded(canary, 'forward', 6000, {
      weight: 5,
      weights,
      verdict: 'pass',
      canary: { requests: 1225, http5xx: 0, failed: 3, latency: { ms: 1.4, timed: 1225, errMs: 2.5 } },
      stable: { requests: 23284, http5xx: 1, failed: 0, latency: { ms: 1.1, timed: 23284, errMs: 1 } },
      note: 'not in the stream',
    });
    r.stepSucceeded(weigh, 'forward', 40, { weights: { web1a: 1, web1b: 1 } });
    // A step that sets no weights says nothing of what it changed.
    r.stepSucceeded(step('drain-a'), 'forward', 10, { drained: ['web1a'] });
    const [, ok, back, plain] = lines.map((l) => RunEvent.parse(l));
    expect(ok).toMatchObject({
      weights,
      canary: {
        weight: 5,
        verdict: 'pass',
        canary: { requests: 1225, http5xx: 0, failed: 3, latency: { ms: 1.4, timed: 1225, errMs: 2.5 } },
        stable: { requests: 23284, failed: 0, latency: { ms: 1.1 } },
      },
    });
    expect(back).toMatchObject({ weights: { web1a: 1, web1b: 1 } });
    expect(back).not.toHaveProperty('canary');
    expect(plain).not.toHaveProperty('weights');
  });

  it('refuses what is not an event of this version', () => {
    expect(RunEvent.safeParse({ v: 2, ts: new Date().toISOString(), event: 'notice', message: 'x' }).success).toBe(
      false,
    );
    expect(
      RunEvent.safeParse({
        v: 1,
        ts: new Date().toISOString(),
        event: 'step-ok',
        step: 'x',
        phase: 'sideways',
        seconds: 1,
      }).success,
    ).toBe(false);
  });
});

describe('traffic samples in the stream', () => {
  const plan = { kind: 'push', release: { tag: 'v2' }, hash: 'h1', forward: [] } as unknown as Plan;
  const sample = (sessions: number, at = new Date().toISOString()) => ({
    at,
    members: [
      { name: 'web1a', cluster: 'a' as const, state: 'ready' as const, sessions },
      { name: 'stray', state: 'drain' as const, sessions: 0, extra: 'not in the schema' },
    ],
    requests: 120,
  });

  it('become `sample` events, valid against the schema, at most one a second', () => {
    vi.useFakeTimers();
    try {
      const lines: unknown[] = [];
      const r = new JsonLinesReporter(plan, (e) =>
        lines.push(JSON.parse(JSON.stringify({ v: 1, ts: new Date().toISOString(), ...e }))),
      );
      r.traffic(sample(3));
      vi.advanceTimersByTime(400);
      r.traffic(sample(2)); // within a second: dropped
      vi.advanceTimersByTime(700);
      r.traffic(sample(1));
      const events = lines.map((l) => RunEvent.parse(l)).filter((e) => e.event === 'sample');
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({
        members: [
          { name: 'web1a', cluster: 'a', state: 'ready', sessions: 3 },
          { name: 'stray', state: 'drain', sessions: 0 },
        ],
        requests: 120,
      });
      expect(events[0]).not.toHaveProperty('http5xx');
      expect(events[1]).toMatchObject({ members: [{ sessions: 1 }, {}] });
    } finally {
      vi.useRealTimers();
    }
  });
});
