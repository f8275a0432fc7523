import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { SessionRead } from '../../src/balancers/types.js';
import type { Config } from '../../src/config/config.js';
import { OperationFailedError } from '../../src/errors.js';
import type { ObservedState, Step } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import type { StepEnv } from '../../src/steps/env.js';
import { runWaitDrain } from '../../src/steps/pool.js';
import { stepProblems } from '../../src/model/step-kinds.js';
import { observedFixture } from '../fixtures/observed.js';

const sessions = { track: 'table' as const, idleAfter: 120_000, timeout: 900_000 };
const config = (withSessions: boolean, cutOff = false) =>
  ({
    app: { name: 'shop', keep: 5 },
    balancer: {
      host: 'lb',
      backend: 'web',
      driver: 'haproxy',
      drainTimeout: 30_000,
      cutOffAfterDrainTimeout: cutOff,
      ...(withSessions ? { sessions } : {}),
    },
    clusters: {
      a: { id: 'a', internal: 'prod-a.example.com', hosts: [] },
      b: { id: 'b', internal: 'prod-b.example.com', hosts: [] },
    },
  }) as unknown as Config;

const observed: ObservedState = observedFixture({ hosts: ['w1a', 'w1b'] });
const plan = (c: Config) =>
  buildBlueGreenPlan({
    config: c,
    observed,
    release: releaseFor('v2', 'c'.repeat(40)),
    createdBy: 't',
    now: new Date('2026-11-27T00:00:00Z'),
  });
const all = (steps: Step[]): Step[] => steps.flatMap((s) => [s, ...all(s.undo)]);

describe('a plan with balancer.sessions', () => {
  it("says which drain it does: forward waits are for users, the reversal's waits for requests only", () => {
    const p = plan(config(true));
    const waits = all(p.forward).filter((s) => s.kind === 'wait-drain');
    expect(waits.filter((s) => s.waitFor === 'sessions').map((s) => s.id)).toEqual(['wait-drain-a', 'wait-drain-b']);
    expect(waits.filter((s) => s.waitFor === undefined).map((s) => s.id)).toEqual([
      'undo-ready-wait-a',
      'undo-ready-wait-b',
    ]);
    expect(p.forward.find((s) => s.id === 'wait-drain-a')?.title).toBe(
      'wait for in-flight requests and sticky sessions on cluster a (prod-a.example.com) to end: ' +
        'a session is over when gone from stick table web or idle 2m (at most 15m)',
    );
    expect(all(p.forward).flatMap((s) => stepProblems(s))).toEqual([]);
  });

  it('is another plan (another hash) than the request-only one, and that one is unchanged', () => {
    const plain = plan(config(false));
    expect(all(plain.forward).some((s) => s.waitFor !== undefined)).toBe(false);
    expect(plain.forward.find((s) => s.id === 'wait-drain-a')?.title).toBe(
      'wait for in-flight requests on cluster a (prod-a.example.com) to finish',
    );
    expect(plan(config(true)).hash).not.toBe(plain.hash);
  });

  it('refuses a plan file whose wait step waits for something else', () => {
    const step: Step = {
      id: 'w',
      kind: 'wait-drain',
      title: 't',
      cluster: 'a',
      members: ['web1a'],
      undo: [],
      waitFor: 'coffee' as 'sessions',
    };
    expect(stepProblems(step)).toEqual(['w: waitFor "coffee" is not something a wait-drain step can carry']);
  });
});

/** A step environment whose balancer holds one user on web1a until `leavesAt` (ms of its own clock). */
function env(c: Config, leavesAt: number) {
  let t = 0;
  const calls: string[] = [];
  const balancer = {
    async stickySessions(names: readonly string[], table?: string): Promise<SessionRead> {
      calls.push(`read ${table}`);
      t += 1000;
      const idle = t < leavesAt ? 0 : t - leavesAt;
      return {
        bound: Object.fromEntries(names.map((n) => [n, [{ key: 'k', expiresInMs: 1_800_000 - idle }]])),
        idleMs: Object.fromEntries(names.map((n) => [n, idle])),
        inFlight: Object.fromEntries(names.map((n) => [n, 0])),
      };
    },
    async forgetSessions(names: readonly string[], table: string) {
      calls.push(`forget ${names.join(',')} in ${table}`);
      return names.length;
    },
    async cutOff(names: readonly string[]) {
      calls.push(`cut ${names.join(',')}`);
    },
  };
  const signal = new AbortController().signal;
  return { calls, env: { config: c, balancer, signal } as unknown as StepEnv & { signal: AbortSignal } };
}

describe('the wait-drain step with sessions', () => {
  const step: Step = {
    id: 'wait-drain-a',
    kind: 'wait-drain',
    title: 't',
    cluster: 'a',
    members: ['web1a'],
    undo: [],
    waitFor: 'sessions',
  };
  const short = { ...sessions, idleAfter: 1000, timeout: 60_000 };
  const withShort = (cutOff = false) =>
    ({ ...config(true, cutOff), balancer: { ...config(true, cutOff).balancer, sessions: short } }) as unknown as Config;

  it(
    'waits for the user, then forgets the idle sessions so a returning user is balanced afresh, ' +
      'and journals counts only',
    async () => {
      const e = env(withShort(), 3000);
      const result = await runWaitDrain(step, e.env, () => undefined);
      expect(e.calls.at(-1)).toBe('forget web1a in web');
      expect(e.calls.filter((c) => c.startsWith('read')).length).toBeGreaterThanOrEqual(4);
      expect(result).toMatchObject({ sessionsBoundAtStart: 1, sessionsIdleAtEnd: 1, sessionsForgotten: 1 });
      expect(JSON.stringify(result)).not.toContain('"k"');
    },
  );

  it('stops the push at the timeout, naming who is still there', async () => {
    const c = {
      ...withShort(),
      balancer: { ...withShort().balancer, sessions: { ...short, timeout: 2000 } },
    } as unknown as Config;
    const e = env(c, Number.POSITIVE_INFINITY);
    const err = await runWaitDrain(step, e.env, () => undefined).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toMatch(
      /^users were still on web1a after 2s: web1a: 1 session bound, last request 0 s ago$/,
    );
    expect(e.calls.some((x) => x.startsWith('forget'))).toBe(false);
  });

  it('refuses to run a session wait against a config without balancer.sessions', async () => {
    const e = env(config(false), 0);
    await expect(runWaitDrain(step, e.env, () => undefined)).rejects.toThrow(/has no balancer.sessions/);
  });
});
