// A canary share as arithmetic and a rule: the whole-number weights that send a percentage of
// public traffic to one cluster, and whether the canary's 5xx answers, failed attempts and
// response times over a window say stop. Pure: the planner computes the weights, the canary step
// judges its windows with these.
import type { LatencyReading, MemberCounters } from '../balancers/types.js';
import { formatDuration } from '../config/duration.js';
import { describeQuery, isPlanQueries, type PlanQuery } from './canary-query.js';

/** What a canary step is judged by (baton.yml canary.analysis), recorded in each step of the plan. */
export interface CanaryAnalysis {
  /** The canary's 5xx share above which the step fails (0.05: 5 %). */
  max5xxRatio: number;
  /** The canary's 5xx share above this many times the stable cluster's (floored, see RELATIVE_FLOOR) fails the step. */
  maxRelative5xx: number;
  /** Requests the canary must have answered in the window before any rule judges. */
  minRequests: number;
  /** The canary's mean response time (ms) above which the step fails; absent: not judged (as in older plans). */
  maxLatencyMs?: number;
  /**
   * The canary's mean response time above this many times the stable cluster's (floored, see
   * LATENCY_FLOOR_MS) fails the step; absent: not judged.
   */
  maxRelativeLatency?: number;
  /**
   * The canary's share of failed attempts (connections refused or reset, see MemberCounters.failed) above which
   * the step fails; absent: not judged (as in older plans).
   */
  maxConnectionErrorRatio?: number;
  /**
   * The canary's share of failed attempts above this many times the stable cluster's (floored, see
   * CONNECTION_ERROR_FLOOR) fails the step; absent: not judged.
   */
  maxRelativeConnectionErrors?: number;
  /**
   * Whether the driver counts each member's failed attempts: false where it cannot (Apache's log names only the
   * member that answered), and the connection-error rules do not judge; absent in older plans.
   */
  countsAttempts?: boolean;
  /**
   * members: canary and stable members counted apart; backend: the driver counts no 5xx per member, so the backend-wide
   * share is judged against max5xxRatio alone.
   */
  scope: 'members' | 'backend';
  /** Prometheus queries the step is also judged by (src/model/canary-query.ts); absent: none (as in older plans). */
  queries?: PlanQuery[];
}

/**
 * The stable ratio the relative rule compares with is at least this: with 0 stable errors, a canary
 * answering 5xx to fewer than maxRelative5xx × 1 % of its requests passes it (one error in a few
 * hundred requests is not a verdict), while max5xxRatio still applies.
 */
export const RELATIVE_FLOOR = 0.01;

/**
 * The stable mean response time the relative latency rule compares with is at least this many ms: a
 * stable cluster answering in 1 ms would otherwise fail a canary answering in 3 ms, a difference no
 * user sees; maxLatencyMs still applies.
 */
export const LATENCY_FLOOR_MS = 10;

/**
 * The stable share of failed attempts the relative connection-error rule compares with is at least
 * this (as RELATIVE_FLOOR for 5xx); maxConnectionErrorRatio still applies.
 */
export const CONNECTION_ERROR_FLOOR = 0.01;

/** Mean response time over a window. */
export interface Latency {
  /** The mean, in ms. */
  ms: number;
  /** Requests it is the mean of. */
  timed: number;
  /**
   * How far the mean may be off, in ms: a moving mean read in whole ms (HAProxy's rtime) leaves this
   * much uncertain once the window's own requests are taken out of it; 0 for summed times.
   */
  errMs: number;
}

/**
 * Requests answered, 5xx answers and, where the balancer keeps them, failed attempts (not answered,
 * so not in requests) and response times counted over a window.
 */
export interface Window {
  requests: number;
  http5xx: number;
  failed?: number;
  latency?: Latency;
}

export type Metric =
  | 'max5xxRatio'
  | 'maxRelative5xx'
  | 'maxConnectionErrorRatio'
  | 'maxRelativeConnectionErrors'
  | 'maxLatencyMs'
  | 'maxRelativeLatency';

export type Judgement =
  | { verdict: 'pass' | 'too-few'; canary: Window; stable?: Window }
  | { verdict: 'fail'; metric: Metric; canary: Window; stable?: Window; message: string };

/**
 * HAProxy's moving means weigh each new request 1/512 once a server has answered more than that many: its
 * TIME_STATS_SAMPLES (include/haproxy/defaults.h), "to advertise accurate times across 1k samples, we effectively
 * measure over 512", though the management guide says "the 1024 last requests".
 */
export const HAPROXY_TIME_SAMPLES = 512;

/**
 * The mean response time of the requests between two readings of one balancer's times for one member:
 * summed times are differenced; a moving mean (HAProxy's rtime, each request weighing 1/n of it with
 * n = min(requests so far, 512)) has the start's mean taken out as it decayed, which leaves the
 * window's own requests (weighted toward the latest), give or take what rounding to whole ms hides.
 */
export function latencyBetween(start: LatencyReading, now: LatencyReading): Latency | undefined {
  const timed = now.timed - start.timed;
  if (timed <= 0) return undefined;
  if (now.totalMs !== undefined && start.totalMs !== undefined)
    return { ms: (now.totalMs - start.totalMs) / timed, timed, errMs: 0 };
  if (now.recentMs === undefined || start.recentMs === undefined) return undefined;
  // After each request k, mean_k = mean_(k-1) × (1 − 1/n_k) + v_k / n_k: the start's mean decays by
  // `kept`, and the window's requests make up the rest.
  let kept = 1;
  let k = start.timed + 1;
  for (; k <= now.timed && k < HAPROXY_TIME_SAMPLES; k++) kept *= 1 - 1 / k;
  if (k <= now.timed) kept *= Math.pow(1 - 1 / HAPROXY_TIME_SAMPLES, now.timed - k + 1);
  const share = 1 - kept;
  if (share <= 0) return undefined;
  // Each reading is rounded up to a whole ms: at most 1 ms off, the start's weighing `kept`.
  return { ms: Math.max(0, (now.recentMs - start.recentMs * kept) / share), timed, errMs: (1 + kept) / share };
}

/** Members' counts over a window: their differences summed, response times averaged by requests timed. */
export function membersWindow(
  names: readonly string[],
  start: Readonly<Record<string, MemberCounters>>,
  now: Readonly<Record<string, MemberCounters>>,
): Window {
  let requests = 0;
  let http5xx = 0;
  let failed: number | undefined;
  let timed = 0;
  let totalMs = 0;
  let err = 0;
  for (const n of names) {
    const a = start[n];
    const b = now[n];
    if (!b) continue;
    requests += b.requests - (a?.requests ?? 0);
    http5xx += b.http5xx - (a?.http5xx ?? 0);
    if (b.failed !== undefined) failed = (failed ?? 0) + b.failed - (a?.failed ?? 0);
    (b.latency ?? []).forEach((r, i) => {
      const l = latencyBetween(a?.latency?.[i] ?? { timed: 0, totalMs: 0, recentMs: 0 }, r);
      if (!l) return;
      timed += l.timed;
      totalMs += l.ms * l.timed;
      err += l.errMs * l.timed;
    });
  }
  return {
    requests,
    http5xx,
    ...(failed !== undefined ? { failed } : {}),
    ...(timed > 0 ? { latency: { ms: totalMs / timed, timed, errMs: err / timed } } : {}),
  };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const timedSaid = (l: Latency) => `${l.timed} requests timed, mean ${ms(l.ms)}${l.errMs ? ` ± ${ms(l.errMs)}` : ''}`;

const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
const ratio = (w: Window) => (w.requests ? w.http5xx / w.requests : 0);

/**
 * Judge the canary's window against the stable cluster's over the same time (absent: backend scope, no stable to
 * compare).
 */
export function judgeCanary(canary: Window, stable: Window | undefined, a: CanaryAnalysis): Judgement {
  const seen = { canary, ...(stable ? { stable } : {}) };
  // A canary that answers nothing (it refuses every connection) is judged on its attempts alone.
  if (canary.requests < a.minRequests)
    return (
      (attemptsJudged(canary, a) ? judgeConnectionErrors(canary, stable, a) : undefined) ?? {
        verdict: 'too-few',
        ...seen,
      }
    );
  const c = ratio(canary);
  const counted = `${canary.http5xx} 5xx in ${canary.requests} requests`;
  const stableSaid = stable
    ? `; stable: ${stable.http5xx} 5xx in ${stable.requests} requests (${pct(ratio(stable))})`
    : '';
  const who = a.scope === 'members' ? 'canary' : 'backend-wide';
  if (c > a.max5xxRatio)
    return {
      verdict: 'fail',
      metric: 'max5xxRatio',
      ...seen,
      message: `${who} 5xx ratio ${pct(c)} > max5xxRatio ${pct(a.max5xxRatio)} (${who}: ${counted}${stableSaid})`,
    };
  if (stable) {
    const limit = a.maxRelative5xx * Math.max(ratio(stable), RELATIVE_FLOOR);
    const floored = ratio(stable) < RELATIVE_FLOOR ? ' (floor)' : '';
    const stableShown = `${pct(Math.max(ratio(stable), RELATIVE_FLOOR))}${floored}`;
    if (c > limit)
      return {
        verdict: 'fail',
        metric: 'maxRelative5xx',
        ...seen,
        message:
          `canary 5xx ratio ${pct(c)} > maxRelative5xx ${a.maxRelative5xx} × stable ${stableShown} ` +
          `= ${pct(limit)} (canary: ${counted}${stableSaid})`,
      };
  }
  return judgeConnectionErrors(canary, stable, a) ?? judgeLatency(canary, stable, a) ?? { verdict: 'pass', ...seen };
}

/** Requests the balancer sent a window's members: those they answered and those they failed. */
export const attemptsOf = (w: Window) => w.requests + (w.failed ?? 0);
const failedRatio = (w: Window) => (attemptsOf(w) ? (w.failed ?? 0) / attemptsOf(w) : 0);

/** Whether the connection-error rules judge this window: counted, a rule set, and minRequests attempts. */
function attemptsJudged(canary: Window, a: CanaryAnalysis): boolean {
  return (
    canary.failed !== undefined &&
    (a.maxConnectionErrorRatio !== undefined || a.maxRelativeConnectionErrors !== undefined) &&
    attemptsOf(canary) >= a.minRequests
  );
}

const attemptsSaid = (w: Window) => `${w.failed ?? 0} failed attempts in ${attemptsOf(w)} (${w.requests} answered)`;

/**
 * The connection-error rules, once the canary has minRequests attempts: its share of failed attempts above
 * maxConnectionErrorRatio, or above maxRelativeConnectionErrors × the stable cluster's (at least
 * CONNECTION_ERROR_FLOOR).
 */
function judgeConnectionErrors(canary: Window, stable: Window | undefined, a: CanaryAnalysis): Judgement | undefined {
  if (!attemptsJudged(canary, a)) return undefined;
  const seen = { canary, ...(stable ? { stable } : {}) };
  const c = failedRatio(canary);
  const s = stable?.failed !== undefined ? stable : undefined;
  const said = `canary: ${attemptsSaid(canary)}${s ? `; stable: ${attemptsSaid(s)}, ${pct(failedRatio(s))}` : ''}`;
  if (a.maxConnectionErrorRatio !== undefined && c > a.maxConnectionErrorRatio)
    return {
      verdict: 'fail',
      metric: 'maxConnectionErrorRatio',
      ...seen,
      message:
        `canary connection error ratio ${pct(c)} > maxConnectionErrorRatio ${pct(a.maxConnectionErrorRatio)} ` +
        `(${said})`,
    };
  if (a.maxRelativeConnectionErrors !== undefined && s) {
    const base = Math.max(failedRatio(s), CONNECTION_ERROR_FLOOR);
    const limit = a.maxRelativeConnectionErrors * base;
    if (c > limit)
      return {
        verdict: 'fail',
        metric: 'maxRelativeConnectionErrors',
        ...seen,
        message:
          `canary connection error ratio ${pct(c)} > maxRelativeConnectionErrors ${a.maxRelativeConnectionErrors} ` +
          `× stable ${pct(base)}${failedRatio(s) < CONNECTION_ERROR_FLOOR ? ' (floor)' : ''} = ${pct(limit)} (${said})`,
      };
  }
  return undefined;
}

/**
 * The latency rules, once the canary has minRequests timed requests: its mean (at its lowest within
 * what the reading leaves uncertain, so rounding never fails a step) above maxLatencyMs, or above
 * maxRelativeLatency × the stable cluster's mean (at least LATENCY_FLOOR_MS).
 */
function judgeLatency(canary: Window, stable: Window | undefined, a: CanaryAnalysis): Judgement | undefined {
  const c = canary.latency;
  if (!c || c.timed < a.minRequests) return undefined;
  const seen = { canary, ...(stable ? { stable } : {}) };
  const low = c.ms - c.errMs;
  const s = stable?.latency;
  const stableSaid = s ? `; stable: ${timedSaid(s)}` : '';
  if (a.maxLatencyMs !== undefined && low > a.maxLatencyMs)
    return {
      verdict: 'fail',
      metric: 'maxLatencyMs',
      ...seen,
      message: `canary latency ${ms(c.ms)} > maxLatencyMs ${ms(a.maxLatencyMs)} (canary: ${timedSaid(c)}${stableSaid})`,
    };
  if (a.maxRelativeLatency !== undefined && s) {
    const base = Math.max(s.ms, LATENCY_FLOOR_MS);
    const limit = a.maxRelativeLatency * base;
    if (low > limit)
      return {
        verdict: 'fail',
        metric: 'maxRelativeLatency',
        ...seen,
        message:
          `canary latency ${ms(c.ms)} > maxRelativeLatency ${a.maxRelativeLatency} × stable ` +
          `${ms(base)}${s.ms < LATENCY_FLOOR_MS ? ' (floor)' : ''} = ${ms(limit)} ` +
          `(canary: ${timedSaid(c)}${stableSaid})`,
      };
  }
  return undefined;
}

/** Per-member weights for a canary share, and the share they give. */
export interface CanaryWeights {
  canary: number;
  stable: number;
  /** The share of requests the canary cluster gets with them, in percent. */
  percent: number;
}

/**
 * Whole weights within [min, max] that give `canaryCount` members of weight `canary` and
 * `stableCount` members of weight `stable` the share nearest `percent` of new requests
 * (ties: the smallest weights). 5 % with 2 and 2 members: 1 and 19.
 */
export function canaryWeights(
  percent: number,
  canaryCount: number,
  stableCount: number,
  range: { min: number; max: number },
): CanaryWeights {
  const shareOf = (c: number, s: number) => (100 * canaryCount * c) / (canaryCount * c + stableCount * s);
  const wanted = (percent * stableCount) / ((100 - percent) * canaryCount); // canary / stable weight
  let best: CanaryWeights | undefined;
  const consider = (c: number, s: number) => {
    const p = shareOf(c, s);
    if (!best || Math.abs(p - percent) < Math.abs(best.percent - percent) - 1e-9)
      best = { canary: c, stable: s, percent: p };
  };
  const clamp = (w: number) => Math.min(range.max, Math.max(range.min, w));
  for (let s = range.min; s <= range.max; s++) consider(clamp(Math.round(wanted * s)), s);
  // A share above 50 % with fewer canary members may need the canary at the top and the stable below it.
  for (let c = range.min; c <= range.max; c++) consider(c, clamp(Math.round(c / wanted)));
  return best as CanaryWeights;
}

/** The share is off by more than this fraction of itself: the range cannot express it. */
export const SHARE_TOLERANCE = 0.2;

/** A canary as baton.yml or `push --canary` sets it: the shares in order, and the analysis thresholds. */
export interface CanarySettings {
  steps: { weight: number; forMs: number }[];
  analysis: Omit<CanaryAnalysis, 'scope' | 'countsAttempts'>;
}

/** What the planner needs to plan a canary: the settings, and what the balancer can weigh and count. */
export interface CanaryInput extends CanarySettings {
  weighing: { can: true; min: number; max: number } | { can: false; reason: string };
  scope: CanaryAnalysis['scope'];
  /** Whether the balancer counts each member's failed attempts (Balancer.countsFailedAttempts). */
  countsAttempts?: boolean;
  /** Every member's weight as observed when the plan was made: what the canary's end and its undo put back. */
  weights: Record<string, number>;
}

/** The canary a plan was made with (hashed): what a resume or an apply remakes the plan from. */
export interface PlanCanary extends CanarySettings {
  range: { min: number; max: number };
  scope: CanaryAnalysis['scope'];
  /** Whether the balancer counts failed attempts per member (absent in older plans: the rules are not said). */
  countsAttempts?: boolean;
  weights: Record<string, number>;
  /**
   * How the balancer keeps users on their member (balancer.sessions track): with it, a user who reached the
   * canary keeps reaching it and one who did not never does; absent, a user may reach both releases.
   */
  sticky?: 'table' | 'idle';
}

/** A plan's canary in one line: the shares, the thresholds, what is counted, the weights put back. */
export function describePlanCanary(c: PlanCanary): string {
  const shares = c.steps.map((s) => `${s.weight}% for ${formatDuration(s.forMs)}`).join(', then ');
  const a = c.analysis;
  const counted =
    c.scope === 'members'
      ? `canary members against stable ones: 5xx ratio > ${pct(a.max5xxRatio)}, ` +
        `or > ${a.maxRelative5xx} × stable (at least ${pct(RELATIVE_FLOOR)})` +
        (a.maxLatencyMs !== undefined ? `, mean latency > ${a.maxLatencyMs} ms` : '') +
        (a.maxRelativeLatency !== undefined
          ? `, mean latency > ${a.maxRelativeLatency} × stable (at least ${LATENCY_FLOOR_MS} ms)`
          : '') +
        describeConnectionRules(a, c.countsAttempts)
      : `backend-wide 5xx ratio > ${pct(a.max5xxRatio)} (the driver counts no 5xx per member)`;
  const weights = Object.entries(c.weights)
    .map(([m, w]) => `${m} ${w}`)
    .join(', ');
  const users = c.sticky
    ? `users stay on the release they reached: sticky sessions (balancer.sessions, ${c.sticky}) keep each on its ` +
      'member while the canary runs'
    : 'without sticky sessions a user may reach both releases during the canary';
  const queries = a.queries?.length ? `; and on ${a.queries.map(describeQuery).join('; and on ')}` : '';
  return (
    `canary: ${shares}; reversed on ${counted}, judged from ${a.minRequests} requests${queries}; ` +
    `weights put back after: ${weights}; ${users}`
  );
}

/**
 * The connection-error rules as a plan says them after the others (nothing in an older plan without them, and
 * why not where the driver cannot count failed attempts).
 */
export function describeConnectionRules(a: CanarySettings['analysis'], countsAttempts: boolean | undefined): string {
  if (a.maxConnectionErrorRatio === undefined && a.maxRelativeConnectionErrors === undefined) return '';
  if (countsAttempts === false)
    return ', connection errors not judged (the driver cannot tell which member failed an attempt)';
  if (countsAttempts === undefined) return '';
  const rules = [
    ...(a.maxConnectionErrorRatio !== undefined ? [`> ${pct(a.maxConnectionErrorRatio)} of its attempts`] : []),
    ...(a.maxRelativeConnectionErrors !== undefined
      ? [`> ${a.maxRelativeConnectionErrors} × the stable cluster's (at least ${pct(CONNECTION_ERROR_FLOOR)})`]
      : []),
  ];
  return `, or its failed attempts (connections refused or reset, retried or not) ${rules.join(' or ')}`;
}

/** Whether a plan file's canary record has the shape the planner remakes steps from. */
export function isPlanCanary(v: unknown): v is PlanCanary {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  const n = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  return (
    Array.isArray(c.steps) &&
    c.steps.every((s: unknown) => obj(s) && n(s.weight) && n(s.forMs)) &&
    obj(c.analysis) &&
    n(c.analysis.max5xxRatio) &&
    n(c.analysis.maxRelative5xx) &&
    n(c.analysis.minRequests) &&
    (c.analysis.maxLatencyMs === undefined || n(c.analysis.maxLatencyMs)) &&
    (c.analysis.maxRelativeLatency === undefined || n(c.analysis.maxRelativeLatency)) &&
    isPlanQueries(c.analysis.queries) &&
    (c.analysis.maxConnectionErrorRatio === undefined || n(c.analysis.maxConnectionErrorRatio)) &&
    (c.analysis.maxRelativeConnectionErrors === undefined || n(c.analysis.maxRelativeConnectionErrors)) &&
    (c.countsAttempts === undefined || typeof c.countsAttempts === 'boolean') &&
    obj(c.range) &&
    n(c.range.min) &&
    n(c.range.max) &&
    (c.scope === 'members' || c.scope === 'backend') &&
    obj(c.weights) &&
    Object.values(c.weights).every(n) &&
    (c.sticky === undefined || c.sticky === 'table' || c.sticky === 'idle')
  );
}
