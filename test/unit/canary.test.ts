// Canary steps above the drivers: the weight arithmetic, the analysis rule, where the planner puts
// the steps and their undo, the --canary flag, and a canary step run against an in-memory balancer.
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { canaryInputOf } from '../../plans/canary.js';
import type { MemberCounters } from '../../src/balancers/types.js';
import { withCanaryFlags } from '../../src/cli/canary-flag.js';
import { UserError } from '../../src/errors.js';
import {
  canaryWeights,
  isPlanCanary,
  judgeCanary,
  latencyBetween,
  membersWindow,
  type CanaryAnalysis,
  type CanaryInput,
} from '../../src/model/canary.js';
import { planHash, reverseSteps, type StepOf } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { stepProblems } from '../../src/model/step-kinds.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { runCanary } from '../../src/steps/canary.js';
import { MemberCountsUnavailable } from '../../src/errors.js';
import type { StepEnv } from '../../src/steps/env.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';
import { fakeBalancer } from '../helpers/memory-balancer.js';

const HAPROXY = { min: 1, max: 256 };
const APACHE = { min: 1, max: 100 };

describe('canary weights', () => {
  it('gives 5 % with 2 canary and 2 stable members as 1 and 19, within HAProxy 1-256 and Apache 1-100', () => {
    expect(canaryWeights(5, 2, 2, HAPROXY)).toEqual({ canary: 1, stable: 19, percent: 5 });
    expect(canaryWeights(5, 2, 2, APACHE)).toEqual({ canary: 1, stable: 19, percent: 5 });
  });

  it('accounts for unequal member counts: 25 % with 1 canary and 3 stable members is 1:1', () => {
    expect(canaryWeights(25, 1, 3, HAPROXY)).toEqual({ canary: 1, stable: 1, percent: 25 });
    // 10 % with 3 canary and 2 stable: each canary weighs 2/27 of a stable one.
    const w = canaryWeights(10, 3, 2, HAPROXY);
    expect(w.percent).toBeCloseTo(10, 1);
    expect(w.canary).toBeLessThan(w.stable);
  });

  it('rounds to the nearest share the range allows, and reaches above 50 %', () => {
    // 1 % of 2+2 in 1-100: 1 against 99 is exactly 1 %.
    expect(canaryWeights(1, 2, 2, APACHE)).toEqual({ canary: 1, stable: 99, percent: 1 });
    // 0.3 % of 1+1 in 1-256: 1/257 at best, the nearest a whole weight gets.
    expect(canaryWeights(0.3, 1, 1, HAPROXY).percent).toBeCloseTo(100 / 257, 5);
    expect(canaryWeights(75, 2, 2, HAPROXY)).toEqual({ canary: 3, stable: 1, percent: 75 });
    // 7 % in a range of 1-3 cannot be near: the nearest is 1 against 3.
    expect(canaryWeights(7, 1, 1, { min: 1, max: 3 })).toEqual({ canary: 1, stable: 3, percent: 25 });
  });
});

const analysis: CanaryAnalysis = { max5xxRatio: 0.05, maxRelative5xx: 2, minRequests: 50, scope: 'members' };

describe('canary analysis', () => {
  it('does not judge before minRequests have reached the canary', () => {
    expect(judgeCanary({ requests: 49, http5xx: 49 }, { requests: 1000, http5xx: 0 }, analysis).verdict).toBe(
      'too-few',
    );
  });

  it('fails on max5xxRatio above the absolute share, naming both sides', () => {
    const j = judgeCanary({ requests: 100, http5xx: 10 }, { requests: 1900, http5xx: 0 }, analysis);
    expect(j).toMatchObject({ verdict: 'fail', metric: 'max5xxRatio' });
    expect(j.verdict === 'fail' && j.message).toBe(
      'canary 5xx ratio 10.00% > max5xxRatio 5.00% (canary: 10 5xx in 100 requests; stable: ' +
        '0 5xx in 1900 requests (0.00%))',
    );
  });

  it('fails on maxRelative5xx above twice the stable ratio, below the absolute limit', () => {
    const j = judgeCanary({ requests: 100, http5xx: 4 }, { requests: 1000, http5xx: 15 }, analysis);
    expect(j).toMatchObject({ verdict: 'fail', metric: 'maxRelative5xx' });
    expect(j.verdict === 'fail' && j.message).toMatch(/4\.00% > maxRelative5xx 2 × stable 1\.50% = 3\.00%/);
  });

  it(
    'floors the stable ratio at 1 %: ' + 'one error in a hundred does not fail a canary beside a clean stable cluster',
    () => {
      expect(judgeCanary({ requests: 100, http5xx: 1 }, { requests: 2000, http5xx: 0 }, analysis).verdict).toBe('pass');
      expect(judgeCanary({ requests: 100, http5xx: 2 }, { requests: 2000, http5xx: 0 }, analysis).verdict).toBe('pass');
      const j = judgeCanary({ requests: 100, http5xx: 3 }, { requests: 2000, http5xx: 0 }, analysis);
      expect(j).toMatchObject({ verdict: 'fail', metric: 'maxRelative5xx' });
      expect(j.verdict === 'fail' && j.message).toMatch(/stable 1\.00% \(floor\)/);
    },
  );

  it('judges the backend-wide ratio alone where the driver counts no 5xx per member', () => {
    const backend = { ...analysis, scope: 'backend' as const };
    expect(judgeCanary({ requests: 1000, http5xx: 40 }, undefined, backend).verdict).toBe('pass');
    expect(judgeCanary({ requests: 1000, http5xx: 60 }, undefined, backend)).toMatchObject({
      verdict: 'fail',
      metric: 'max5xxRatio',
    });
  });
});

describe('canary connection errors', () => {
  const conn: CanaryAnalysis = { ...analysis, maxConnectionErrorRatio: 0.02, maxRelativeConnectionErrors: 2 };
  const side = (requests: number, failed: number, http5xx = 0) => ({ requests, http5xx, failed });

  it('fails on maxConnectionErrorRatio: failed attempts over attempts (answered + failed), naming both sides', () => {
    // 20 of 100 attempts reset: no 5xx counted, every answer a 200, yet broken.
    const j = judgeCanary(side(80, 20), side(1900, 0), conn);
    expect(j).toMatchObject({ verdict: 'fail', metric: 'maxConnectionErrorRatio' });
    expect(j.verdict === 'fail' && j.message).toBe(
      'canary connection error ratio 20.00% > maxConnectionErrorRatio 2.00% (canary: 20 failed attempts in 100 ' +
        '(80 answered); stable: 0 failed attempts in 1900 (1900 answered), 0.00%)',
    );
    expect(judgeCanary(side(98, 2), side(1900, 0), conn).verdict).toBe('pass');
  });

  it('fails on maxRelativeConnectionErrors above twice the stable share, floored at 1 %', () => {
    // stable 3 %: the canary may fail up to 6 % before the relative rule (absolute raised out of the way)
    const relative = { ...conn, maxConnectionErrorRatio: 0.5 };
    expect(judgeCanary(side(94, 6), side(970, 30), relative).verdict).toBe('pass');
    const j = judgeCanary(side(93, 7), side(970, 30), relative);
    expect(j).toMatchObject({ verdict: 'fail', metric: 'maxRelativeConnectionErrors' });
    expect(j.verdict === 'fail' && j.message).toMatch(
      /7\.00% > maxRelativeConnectionErrors 2 × stable 3\.00% = 6\.00%/,
    );
    // a clean stable cluster counts as 1 %: 2 % passes, 3 % fails, and the message says floor
    expect(judgeCanary(side(98, 2), side(1000, 0), relative).verdict).toBe('pass');
    const floored = judgeCanary(side(97, 3), side(1000, 0), relative);
    expect(floored).toMatchObject({ verdict: 'fail', metric: 'maxRelativeConnectionErrors' });
    expect(floored.verdict === 'fail' && floored.message).toMatch(/stable 1\.00% \(floor\) = 2\.00%/);
  });

  it('judges a canary that answers nothing once it has minRequests attempts, and not before', () => {
    // refusing every connection: each redispatched to the stable cluster, the canary answers none
    expect(judgeCanary(side(0, 49), side(1000, 0), conn).verdict).toBe('too-few');
    const j = judgeCanary(side(0, 50), side(1000, 0), conn);
    expect(j).toMatchObject({ verdict: 'fail', metric: 'maxConnectionErrorRatio' });
    expect(j.verdict === 'fail' && j.message).toMatch(/100\.00% > maxConnectionErrorRatio 2\.00% \(canary: 50 failed/);
    // few answered, a clean record of attempts: the 5xx rules still wait for minRequests answers
    expect(judgeCanary(side(30, 0, 30), side(1000, 0), conn).verdict).toBe('too-few');
  });

  it('is not judged where the driver counts no failed attempts, nor in an older plan without the rules', () => {
    expect(judgeCanary({ requests: 100, http5xx: 0 }, { requests: 1000, http5xx: 0 }, conn).verdict).toBe('pass');
    expect(judgeCanary(side(0, 100), side(1000, 0), analysis).verdict).toBe('too-few');
    expect(judgeCanary(side(80, 20), side(1000, 0), analysis).verdict).toBe('pass');
  });

  it("sums members' failed attempts over a window, a member first counted in it from 0", () => {
    const start: Record<string, MemberCounters> = { web1a: { requests: 10, http5xx: 0, failed: 3 } };
    const now: Record<string, MemberCounters> = {
      web1a: { requests: 40, http5xx: 0, failed: 13 },
      web2a: { requests: 0, http5xx: 0, failed: 4 },
    };
    expect(membersWindow(['web1a', 'web2a'], start, now)).toEqual({ requests: 30, http5xx: 0, failed: 14 });
    // a driver that counts none: no failed field, so no verdict on it
    expect(
      membersWindow(['web1a'], { web1a: { requests: 1, http5xx: 0 } }, { web1a: { requests: 9, http5xx: 0 } }),
    ).toEqual({ requests: 8, http5xx: 0 });
  });
});

/**
 * One HAProxy server's response times as HAProxy keeps them (swrate_add_dynamic, read as rtime with
 * swrate_avg): a plain sum for its first 1024 requests, then a sum that loses 1/1024 of itself per
 * request; read divided by min(requests, 1024), rounded up.
 */
/**
 * HAProxy 2.6's server time stats, as stream_update_time_stats and the stats dump keep them: a plain sum until a
 * server has answered more than TIME_STATS_SAMPLES (512) requests, then swrate_add_dynamic's decaying sum read as sum
 * / 512, rounded up. The 512 is HAProxy's, written out here so a wrong constant in baton cannot agree with itself.
 */
function haproxyTimes() {
  const TIME_STATS_SAMPLES = 512;
  let sum = 0;
  let timed = 0;
  return {
    answer(ms: number, times = 1) {
      for (let i = 0; i < times; i++) {
        timed++;
        const n = timed > TIME_STATS_SAMPLES ? TIME_STATS_SAMPLES : 0;
        sum = (n ? sum - Math.floor((sum + n - 1) / n) : sum) + ms;
      }
    },
    read: () => {
      const n = Math.min(timed, TIME_STATS_SAMPLES);
      return { timed, recentMs: n ? Math.floor((sum + n - 1) / n) : 0 };
    },
  };
}

describe('canary latency', () => {
  const latencyAnalysis: CanaryAnalysis = { ...analysis, maxRelativeLatency: 2 };
  const timed = (requests: number, ms: number, errMs = 0) => ({
    requests,
    http5xx: 0,
    latency: { ms, timed: requests, errMs },
  });

  it('takes the mean of summed times over a window (Apache %D, nginx $upstream_response_time)', () => {
    expect(latencyBetween({ timed: 10, totalMs: 100 }, { timed: 30, totalMs: 1100 })).toEqual({
      ms: 50,
      timed: 20,
      errMs: 0,
    });
    expect(latencyBetween({ timed: 10, totalMs: 100 }, { timed: 10, totalMs: 100 })).toBeUndefined();
  });

  it("takes the window's own mean out of HAProxy's moving rtime, within what its whole ms leave uncertain", () => {
    // A member that answered 5000 requests in 1 ms, then its new release answers 300 in 31 ms:
    // rtime itself reads about 14 ms, the window's mean is 31 ms.
    const h = haproxyTimes();
    h.answer(1, 5000);
    const start = h.read();
    h.answer(31, 300);
    const now = h.read();
    expect(now.recentMs).toBeLessThan(18);
    const l = latencyBetween(start, now) as { ms: number; timed: number; errMs: number };
    expect(l.timed).toBe(300);
    expect(Math.abs(l.ms - 31)).toBeLessThanOrEqual(l.errMs);
    // 300 new of a 512-request mean leave ±4 ms uncertain: still far above a 20 ms limit.
    expect(l.errMs).toBeLessThan(4);
    expect(l.ms - l.errMs).toBeGreaterThan(20);
    // A fresh HAProxy (fewer than 512 requests so far) keeps a plain mean.
    const fresh = haproxyTimes();
    fresh.answer(2, 100);
    const s = fresh.read();
    fresh.answer(40, 100);
    const f = latencyBetween(s, fresh.read()) as { ms: number; errMs: number };
    expect(Math.abs(f.ms - 40)).toBeLessThanOrEqual(f.errMs);
  });

  it("averages members' windows by requests timed, each balancer of a pair apart", () => {
    const w = membersWindow(
      ['web1a', 'web2a'],
      {
        web1a: {
          requests: 10,
          http5xx: 0,
          latency: [
            { timed: 10, totalMs: 100 },
            { timed: 5, totalMs: 50 },
          ],
        },
        web2a: { requests: 0, http5xx: 0 },
      },
      {
        web1a: {
          requests: 40,
          http5xx: 1,
          latency: [
            { timed: 30, totalMs: 500 },
            { timed: 15, totalMs: 250 },
          ],
        },
        web2a: { requests: 10, http5xx: 0, latency: [{ timed: 10, totalMs: 400 }] },
        web1b: { requests: 99, http5xx: 9, latency: [{ timed: 99, totalMs: 99 }] },
      },
    );
    expect(w).toEqual({ requests: 40, http5xx: 1, latency: { ms: 1000 / 40, timed: 40, errMs: 0 } });
  });

  it('fails on maxRelativeLatency above twice the stable mean, floored at 10 ms, naming both', () => {
    expect(judgeCanary(timed(100, 19), timed(2000, 1), latencyAnalysis).verdict).toBe('pass');
    const j = judgeCanary(timed(100, 31), timed(2000, 1), latencyAnalysis);
    expect(j).toMatchObject({ verdict: 'fail', metric: 'maxRelativeLatency' });
    expect(j.verdict === 'fail' && j.message).toBe(
      'canary latency 31.0 ms > maxRelativeLatency 2 × stable 10.0 ms (floor) = 20.0 ms ' +
        '(canary: 100 requests timed, mean 31.0 ms; stable: 2000 requests timed, mean 1.0 ms)',
    );
    // Three times a slower stable cluster's.
    expect(judgeCanary(timed(100, 150), timed(2000, 50), latencyAnalysis)).toMatchObject({
      metric: 'maxRelativeLatency',
    });
    expect(judgeCanary(timed(100, 90), timed(2000, 50), latencyAnalysis).verdict).toBe('pass');
  });

  it('fails on maxLatencyMs, judges only from minRequests timed, and never on what rounding leaves uncertain', () => {
    const absolute = { ...analysis, maxLatencyMs: 25 };
    expect(judgeCanary(timed(100, 30), undefined, absolute)).toMatchObject({
      verdict: 'fail',
      metric: 'maxLatencyMs',
      message: 'canary latency 30.0 ms > maxLatencyMs 25.0 ms (canary: 100 requests timed, mean 30.0 ms)',
    });
    expect(judgeCanary(timed(49, 300), timed(2000, 1), { ...latencyAnalysis, maxLatencyMs: 25 }).verdict).toBe(
      'too-few',
    );
    expect(judgeCanary(timed(100, 30, 6), undefined, absolute).verdict).toBe('pass');
    // No latency rule set (plans of older batons): times are not judged.
    expect(judgeCanary(timed(100, 300), timed(2000, 1), analysis).verdict).toBe('pass');
  });
});

const config = planConfigFixture();
const observed = observedFixture();
const release = releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc');
const canary = (over: Partial<CanaryInput> = {}): CanaryInput => ({
  steps: [
    { weight: 5, forMs: 120_000 },
    { weight: 25, forMs: 300_000 },
  ],
  analysis: { max5xxRatio: 0.05, maxRelative5xx: 2, minRequests: 50 },
  weighing: { can: true, ...HAPROXY },
  scope: 'members',
  weights: { web1a: 1, web2a: 1, web1b: 1, web2b: 1 },
  ...over,
});
const plan = (input: CanaryInput | undefined, more: { hold?: boolean; driver?: string } = {}) =>
  buildBlueGreenPlan({
    config: more.driver ? planConfigFixture({ balancer: { host: 'lb', backend: 'web', driver: more.driver } }) : config,
    observed,
    release,
    createdBy: 'tester',
    now: new Date('2026-12-07T00:00:00Z'),
    ...(input ? { canary: input } : {}),
  });

describe('canary steps in a push plan', () => {
  it(
    'replace the first cluster return to the pool, ' + 'after its smoke check; the second cluster goes on as before',
    () => {
      expect(plan(canary()).forward.map((s) => s.id)).toEqual([
        'lock',
        'drain-a',
        'stage',
        'wait-drain-a',
        'activate-a',
        'smoke-a',
        'canary-a-1',
        'canary-a-2',
        'canary-a-end',
        'drain-b',
        'wait-drain-b',
        'activate-b',
        'smoke-b',
        'ready-b',
        'unlock',
      ]);
    },
  );

  it('carry the weights of each share, the thresholds, and a title that shows both', () => {
    const p = plan(canary());
    const [first, second] = p.forward.filter((s) => s.id.startsWith('canary-a-') && s.id !== 'canary-a-end') as [
      StepOf<'canary'>,
      StepOf<'canary'>,
    ];
    expect(first).toMatchObject({
      cluster: 'a',
      members: ['web1a', 'web2a'],
      stableMembers: ['web1b', 'web2b'],
      weight: 5,
      forMs: 120_000,
      weights: { web1a: 1, web2a: 1, web1b: 19, web2b: 19 },
      analysis: { ...canary().analysis, scope: 'members' },
      vouchHealthy: true,
    });
    expect(second.weights).toEqual({ web1a: 1, web2a: 1, web1b: 3, web2b: 3 });
    expect(first.title).toMatch(/return cluster a \(prod-a\.example\.com\) to the pool at 5% of public traffic for 2m/);
    expect(first.title).toMatch(/its 5xx ratio > 5% or > 2 × the stable cluster's \(taken as at least 1%\)/);
    expect(p.forward.find((s) => s.id === 'canary-a-end')).toMatchObject({
      kind: 'weigh',
      weights: { web1a: 1, web2a: 1, web1b: 1, web2b: 1 },
    });
    expect(p.forward.every((s) => stepProblems(s).length === 0)).toBe(true);
  });

  it('undo each canary step by putting back the observed weights and draining the canary cluster', () => {
    const p = plan(canary({ weights: { web1a: 3, web2a: 3, web1b: 3, web2b: 3 } }));
    const step = p.forward.find((s) => s.id === 'canary-a-2') as StepOf<'canary'>;
    expect(step.undo.map((u) => [u.kind, u.members ?? u.weights])).toEqual([
      ['weigh', { web1a: 3, web2a: 3, web1b: 3, web2b: 3 }],
      ['drain', ['web1a', 'web2a']],
      ['wait-drain', ['web1a', 'web2a']],
    ]);
    // A reversal at the first step is the same as after a failed smoke check: weights back, out, back to v1.
    const upTo = p.forward.slice(0, p.forward.findIndex((s) => s.id === 'canary-a-1') + 1);
    expect(reverseSteps(upTo).map((s) => s.id)).toEqual([
      'undo-canary-a-1',
      'undo-canary-a-1-drain',
      'undo-canary-a-1-wait',
      'undo-activate-a',
      'undo-stage',
      'undo-drain-a',
      'undo-lock',
    ]);
  });

  it('records the canary in the plan, hashed, and remakes the same plan from the record', () => {
    const p = plan(canary());
    expect(p.canary).toEqual({
      steps: canary().steps,
      analysis: canary().analysis,
      range: HAPROXY,
      scope: 'members',
      weights: { web1a: 1, web2a: 1, web1b: 1, web2b: 1 },
    });
    const { hash, ...rest } = p;
    expect(planHash({ ...rest, canary: { ...rest.canary!, range: APACHE } })).not.toBe(hash);
    expect(plan(canaryInputOf(p.canary!)).hash).toBe(hash);
  });

  it('is left out without a canary (--no-canary), and on nginx the flip stays one change only without it', () => {
    expect(plan(undefined).forward.some((s) => s.kind === 'canary')).toBe(false);
    expect(plan(undefined).canary).toBeUndefined();
    expect(plan(undefined, { driver: 'nginx' }).forward.map((s) => s.kind)).toContain('flip');
    const withCanary = plan(canary(), { driver: 'nginx' }).forward.map((s) => s.kind);
    expect(withCanary).not.toContain('flip');
    expect(withCanary).toContain('canary');
  });

  it('is refused at plan time with the driver reason when it cannot weigh members', () => {
    const why = 'mode: file writes an upstream file without weights; canary steps need mode: lua';
    expect(() => plan(canary({ weighing: { can: false, reason: why } }))).toThrow(UserError);
    expect(() => plan(canary({ weighing: { can: false, reason: why } }))).toThrow(
      `baton.yml asks for canary steps, and the haproxy balancer cannot weigh members: ${why}`,
    );
  });

  it('is refused when the weight range cannot come near a share', () => {
    expect(() => plan(canary({ weighing: { can: true, min: 1, max: 3 } }))).toThrow(
      /a canary share of 5% cannot be set with haproxy weights 1-3 .* the nearest is 25\.00%/,
    );
  });

  it('shows the canary, its thresholds and the weights put back at the head of the plan, text and markdown', () => {
    const p = plan(canary());
    const line =
      'canary: 5% for 2m, then 25% for 5m; reversed on canary members against stable ones: ' +
      '5xx ratio > 5.00%, or > 2 × stable (at least 1.00%), judged from 50 requests; weights put back after: ' +
      'web1a 1, web2a 1, web1b 1, web2b 1';
    expect(planText(p)).toContain(line);
    expect(planMarkdown(p)).toContain('| Canary | 5% for 2m, then 25% for 5m;');
  });

  it('says whether users stay on one release: with balancer.sessions they do, without they may reach both', () => {
    expect(planText(plan(canary()))).toContain(
      'without sticky sessions a user may reach both releases during the canary',
    );
    const sticky = buildBlueGreenPlan({
      config: planConfigFixture({
        balancer: {
          host: 'lb',
          backend: 'web',
          driver: 'haproxy',
          sessions: { track: 'table', idleAfter: 2000, timeout: 60_000 },
        },
      }),
      observed,
      release,
      createdBy: 'tester',
      now: new Date('2026-12-07T00:00:00Z'),
      canary: canary(),
    });
    expect(sticky.canary).toMatchObject({ sticky: 'table' });
    expect(planText(sticky)).toContain(
      'users stay on the release they reached: sticky sessions (balancer.sessions, table) keep each on its member ' +
        'while the canary runs',
    );
    expect(planText(sticky)).not.toContain('may reach both releases');
    // The record is hashed: stickiness is part of what was approved.
    expect(sticky.hash).not.toBe(plan(canary()).hash);
  });

  it('says which connection-error rules judge the canary, or that the driver cannot count them (Apache)', () => {
    const rules = { ...canary().analysis, maxConnectionErrorRatio: 0.02, maxRelativeConnectionErrors: 2 };
    const counted = plan(canary({ analysis: rules, countsAttempts: true }));
    const said =
      ', or its failed attempts (connections refused or reset, retried or not) > 2.00% of its attempts or > 2 × ' +
      "the stable cluster's (at least 1.00%)";
    expect(planText(counted)).toContain(said);
    const step = counted.forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;
    expect(step.analysis).toMatchObject({ maxConnectionErrorRatio: 0.02, countsAttempts: true });
    expect(step.title).toContain(said);
    expect(counted.forward.every((s) => stepProblems(s).length === 0)).toBe(true);
    expect(counted.canary).toMatchObject({ countsAttempts: true });
    expect(plan(canaryInputOf(counted.canary!)).hash).toBe(counted.hash);
    const apache = plan(canary({ analysis: rules, countsAttempts: false }), { driver: 'apache' });
    expect(planText(apache)).toContain(
      ', connection errors not judged (the driver cannot tell which member failed an attempt)',
    );
    expect(planText(apache)).not.toContain('failed attempts (');
    // An older plan's record, without the rules or countsAttempts, still loads and says what it said.
    expect(isPlanCanary(JSON.parse(JSON.stringify(plan(canary()).canary)))).toBe(true);
    expect(isPlanCanary({ ...counted.canary, countsAttempts: 'yes' })).toBe(false);
    expect(planText(plan(canary()))).not.toContain('connection');
  });

  it('says in the plan when the driver counts no 5xx per member', () => {
    const step = plan(canary({ scope: 'backend' })).forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;
    expect(step.analysis.scope).toBe('backend');
    expect(step.title).toMatch(
      /judged from the backend-wide 5xx ratio only \(the haproxy driver counts no 5xx per member/,
    );
  });
});

describe('--canary and --no-canary', () => {
  const withCanary = planConfigFixture({
    canary: {
      steps: [{ weight: 10, for: 60_000 }],
      analysis: { max5xxRatio: 0.1, maxRelative5xx: 3, minRequests: 10 },
    },
  });

  it('replace the steps for one push and keep the analysis of baton.yml (or its defaults)', () => {
    expect(withCanaryFlags(withCanary, { canary: '5%:2m,25%:5m' }).canary).toEqual({
      steps: [
        { weight: 5, for: 120_000 },
        { weight: 25, for: 300_000 },
      ],
      analysis: { max5xxRatio: 0.1, maxRelative5xx: 3, minRequests: 10 },
    });
    expect(withCanaryFlags(config, { canary: '5%:30s' }).canary?.analysis).toEqual({
      max5xxRatio: 0.05,
      maxRelative5xx: 2,
      minRequests: 50,
      maxRelativeLatency: 2,
      maxConnectionErrorRatio: 0.02,
      maxRelativeConnectionErrors: 2,
    });
    expect(withCanaryFlags(withCanary, { 'no-canary': true }).canary).toBeUndefined();
  });

  it('refuse a share or a duration that is not one, in a sentence', () => {
    expect(() => withCanaryFlags(config, { canary: '5:2m' })).toThrow(/--canary "5:2m" is not a share and a duration/);
    expect(() => withCanaryFlags(config, { canary: '100%:2m' })).toThrow(/a share is a percentage from 1 to 99/);
    expect(() => withCanaryFlags(config, { canary: '5%:soon' })).toThrow(/--canary 5%:soon: expected a duration/);
  });
});

describe('a canary step run', () => {
  const stepOf = (forMs: number) =>
    plan(
      canary({ steps: [{ weight: 5, forMs }], analysis: { max5xxRatio: 0.05, maxRelative5xx: 2, minRequests: 20 } }),
    ).forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;

  /** A balancer whose members answer `perRead` more requests and 5xx each time they are counted. */
  function counting(perRead: Record<string, MemberCounters>) {
    const b = fakeBalancer({ web1a: 'drain', web2a: 'drain', web1b: 'ready', web2b: 'ready' });
    const totals: Record<string, MemberCounters> = {};
    return Object.assign(b, {
      memberCounters: async () => {
        for (const [m, c] of Object.entries(perRead)) {
          const t = (totals[m] ??= { requests: 0, http5xx: 0 });
          t.requests += c.requests;
          t.http5xx += c.http5xx;
        }
        return structuredClone(totals);
      },
    });
  }
  const envOf = (balancer: ReturnType<typeof counting>) =>
    ({ balancer, config: { smoke: { deadlineMs: 1000 } } }) as unknown as StepEnv;

  it('sets the weights before returning the canary members, then passes a clean window', async () => {
    const balancer = counting({
      web1a: { requests: 5, http5xx: 0 },
      web2a: { requests: 5, http5xx: 0 },
      web1b: { requests: 95, http5xx: 0 },
      web2b: { requests: 95, http5xx: 1 },
    });
    const result = await runCanary(stepOf(60), envOf(balancer), () => undefined, { pollMs: 10 });
    expect(balancer.log.slice(0, 2)).toEqual(['weigh web1a=1,web2a=1,web1b=19,web2b=19', 'ready web1a,web2a']);
    expect(result).toMatchObject({ verdict: 'pass', weight: 5, scope: 'members' });
  });

  it('judges the backend-wide ratio, and says why, when the driver finds it cannot count per member', async () => {
    const balancer = counting({});
    let backend = { requests: 0, http5xx: 0, redispatches: 0, retries: 0 };
    const progress: string[] = [];
    Object.assign(balancer, {
      memberCounters: async () => {
        throw new MemberCountsUnavailable('the access log /var/log/x.log on lb does not name its members');
      },
      counters: async () => (backend = { ...backend, requests: backend.requests + 10 }),
    });
    const result = await runCanary(stepOf(60), envOf(balancer), (m) => progress.push(m), { pollMs: 10 });
    expect(result).toMatchObject({
      verdict: 'pass',
      scope: 'backend',
      note:
        'the access log /var/log/x.log on lb does not name its members: ' +
        'judged on the backend-wide 5xx ratio instead',
    });
    expect(result).not.toHaveProperty('stable');
    expect(progress[0]).toMatch(/judged on the backend-wide 5xx ratio instead$/);
    expect(progress.at(-1)).toMatch(/^canary 5%: backend 0 5xx in \d+/);
  });

  it(
    'fails with the metric and the values of both sides ' + 'when the canary answers 5xx to one request in ten',
    async () => {
      const balancer = counting({
        web1a: { requests: 10, http5xx: 1 },
        web2a: { requests: 10, http5xx: 1 },
        web1b: { requests: 190, http5xx: 0 },
        web2b: { requests: 190, http5xx: 0 },
      });
      await expect(runCanary(stepOf(5000), envOf(balancer), () => undefined, { pollMs: 10 })).rejects.toThrow(
        'canary at 5% failed its analysis on max5xxRatio: canary 5xx ratio 10.00% > max5xxRatio 5.00% (canary: ' +
          '2 5xx in 20 requests; stable: 0 5xx in 380 requests (0.00%))',
      );
    },
  );

  it('fails on maxConnectionErrorRatio when the canary refuses every connection and so answers nothing', async () => {
    const step = plan(
      canary({
        steps: [{ weight: 5, forMs: 5000 }],
        analysis: {
          ...canary().analysis,
          minRequests: 20,
          maxConnectionErrorRatio: 0.02,
          maxRelativeConnectionErrors: 2,
        },
        countsAttempts: true,
      }),
    ).forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;
    const b = fakeBalancer({ web1a: 'drain', web2a: 'drain', web1b: 'ready', web2b: 'ready' });
    let reads = 0;
    // each refused attempt at the canary was redispatched to, and answered by, the stable cluster
    const at = (requests: number, failed: number) => ({ requests, http5xx: 0, failed });
    Object.assign(b, {
      memberCounters: async () => {
        reads++;
        return {
          web1a: at(0, 8 * reads),
          web2a: at(0, 8 * reads),
          web1b: at(208 * reads, 0),
          web2b: at(208 * reads, 0),
        };
      },
    });
    const failed = await runCanary(step, envOf(b as ReturnType<typeof counting>), () => undefined, {
      pollMs: 10,
    }).catch((e: unknown) => e);
    expect(String(failed)).toContain(
      'canary at 5% failed its analysis on maxConnectionErrorRatio: canary connection error ratio 100.00% > ' +
        'maxConnectionErrorRatio 2.00% (canary: 32 failed attempts in 32 (0 answered); stable: 0 failed attempts ' +
        'in 832 (832 answered), 0.00%)',
    );
    // what the journal's step-fail keeps as found
    expect((failed as { data?: unknown }).data).toMatchObject({
      metric: 'maxConnectionErrorRatio',
      canary: { requests: 0, failed: 32 },
      stable: { requests: 832, failed: 0 },
    });
  });

  it('fails on maxRelativeLatency, the verdict carrying both means, when the canary answers slowly', async () => {
    const step = plan(
      canary({
        steps: [{ weight: 5, forMs: 5000 }],
        analysis: { max5xxRatio: 0.05, maxRelative5xx: 2, minRequests: 20, maxRelativeLatency: 2 },
      }),
    ).forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;
    const b = fakeBalancer({ web1a: 'drain', web2a: 'drain', web1b: 'ready', web2b: 'ready' });
    let reads = 0;
    const at = (n: number, ms: number) => ({ requests: n, http5xx: 0, latency: [{ timed: n, totalMs: n * ms }] });
    Object.assign(b, {
      memberCounters: async () => {
        reads++;
        return {
          web1a: at(10 * reads, 60),
          web2a: at(10 * reads, 60),
          web1b: at(200 * reads, 2),
          web2b: at(200 * reads, 2),
        };
      },
    });
    const failed = await runCanary(step, envOf(b as ReturnType<typeof counting>), () => undefined, {
      pollMs: 10,
    }).catch((e: unknown) => e);
    expect(String(failed)).toContain(
      'canary at 5% failed its analysis on maxRelativeLatency: canary latency 60.0 ms > maxRelativeLatency 2 × ' +
        'stable 10.0 ms (floor) = 20.0 ms (canary: 20 requests timed, mean 60.0 ms; stable: 400 requests timed, ' +
        'mean 2.0 ms)',
    );
    expect((failed as { result?: unknown }).result).toBeUndefined();
  });
});
