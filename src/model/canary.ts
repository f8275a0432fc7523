// A canary share as arithmetic and a rule: the whole-number weights that send a percentage of
// public traffic to one cluster, and whether the canary's 5xx answers over a window say stop.
// Pure: the planner computes the weights, the canary step judges its windows with these.
import { formatDuration } from '../config/duration.js';

/** What a canary step is judged by (baton.yml canary.analysis), recorded in each step of the plan. */
export interface CanaryAnalysis {
  /** The canary's 5xx share above which the step fails (0.05: 5 %). */
  max5xxRatio: number;
  /** The canary's 5xx share above this many times the stable cluster's (floored, see RELATIVE_FLOOR) fails the step. */
  maxRelative5xx: number;
  /** Requests the canary must have answered in the window before either rule judges. */
  minRequests: number;
  /**
   * members: canary and stable members counted apart; backend: the driver counts no 5xx per member, so the backend-wide
   * share is judged against max5xxRatio alone.
   */
  scope: 'members' | 'backend';
}

/**
 * The stable ratio the relative rule compares with is at least this: with 0 stable errors, a canary
 * answering 5xx to fewer than maxRelative5xx × 1 % of its requests passes it (one error in a few
 * hundred requests is not a verdict), while max5xxRatio still applies.
 */
export const RELATIVE_FLOOR = 0.01;

/** Requests and 5xx answers counted over a window. */
export interface Window {
  requests: number;
  http5xx: number;
}

export type Judgement =
  | { verdict: 'pass' | 'too-few'; canary: Window; stable?: Window }
  | { verdict: 'fail'; metric: 'max5xxRatio' | 'maxRelative5xx'; canary: Window; stable?: Window; message: string };

const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
const ratio = (w: Window) => (w.requests ? w.http5xx / w.requests : 0);

/**
 * Judge the canary's window against the stable cluster's over the same time (absent: backend scope, no stable to
 * compare).
 */
export function judgeCanary(canary: Window, stable: Window | undefined, a: CanaryAnalysis): Judgement {
  const seen = { canary, ...(stable ? { stable } : {}) };
  if (canary.requests < a.minRequests) return { verdict: 'too-few', ...seen };
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
  return { verdict: 'pass', ...seen };
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
  analysis: Omit<CanaryAnalysis, 'scope'>;
}

/** What the planner needs to plan a canary: the settings, and what the balancer can weigh and count. */
export interface CanaryInput extends CanarySettings {
  weighing: { can: true; min: number; max: number } | { can: false; reason: string };
  scope: CanaryAnalysis['scope'];
  /** Every member's weight as observed when the plan was made: what the canary's end and its undo put back. */
  weights: Record<string, number>;
}

/** The canary a plan was made with (hashed): what a resume or an apply remakes the plan from. */
export interface PlanCanary extends CanarySettings {
  range: { min: number; max: number };
  scope: CanaryAnalysis['scope'];
  weights: Record<string, number>;
}

/** A plan's canary in one line: the shares, the thresholds, what is counted, the weights put back. */
export function describePlanCanary(c: PlanCanary): string {
  const shares = c.steps.map((s) => `${s.weight}% for ${formatDuration(s.forMs)}`).join(', then ');
  const a = c.analysis;
  const counted =
    c.scope === 'members'
      ? `canary members against stable ones: 5xx ratio > ${pct(a.max5xxRatio)}, ` +
        `or > ${a.maxRelative5xx} × stable (at least ${pct(RELATIVE_FLOOR)})`
      : `backend-wide 5xx ratio > ${pct(a.max5xxRatio)} (the driver counts no 5xx per member)`;
  const weights = Object.entries(c.weights)
    .map(([m, w]) => `${m} ${w}`)
    .join(', ');
  return (
    `canary: ${shares}; reversed on ${counted}, judged from ${a.minRequests} requests; ` +
    `weights put back after: ${weights}; users are not pinned to one release (no sticky canary yet)`
  );
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
    obj(c.range) &&
    n(c.range.min) &&
    n(c.range.max) &&
    (c.scope === 'members' || c.scope === 'backend') &&
    obj(c.weights) &&
    Object.values(c.weights).every(n)
  );
}
