// Canary steps in a push: the first cluster, smoke-checked, returns to the pool at a share of
// public traffic instead of all at once, one canary step per configured share, each held and
// judged; then the weights go back to what was observed and the push goes on as without. Each
// canary step's undo puts the observed weights back and drains the canary cluster, so a failed
// analysis reverses the push exactly as a failed smoke check does.
import type { ClusterId, Config } from '../src/config/config.js';
import { formatDuration } from '../src/config/duration.js';
import { UserError } from '../src/errors.js';
import {
  canaryWeights,
  describeConnectionRules,
  LATENCY_FLOOR_MS,
  RELATIVE_FLOOR,
  SHARE_TOLERANCE,
  type CanaryAnalysis,
  type CanaryInput,
  type PlanCanary,
} from '../src/model/canary.js';
import { describeQuery, queriesFor } from '../src/model/canary-query.js';
import type { Step, StepOf } from '../src/model/steps.js';

const pct = (r: number) => `${+(r * 100).toFixed(2)}%`;

/** What a canary step is judged by, as a plan shows it. */
export function describeAnalysis(a: CanaryAnalysis, driver: string): string {
  const queries = a.queries?.length ? `; and reversed on ${a.queries.map(describeQuery).join('; and on ')}` : '';
  return describeCounters(a, driver) + queries;
}

function describeCounters(a: CanaryAnalysis, driver: string): string {
  const floor = `taken as at least ${pct(RELATIVE_FLOOR)}`;
  return a.scope === 'members'
    ? `judged from the balancer's per-member counters: reversed when, ` +
        `with at least ${a.minRequests} requests on the canary, ` +
        `its 5xx ratio > ${pct(a.max5xxRatio)} or > ${a.maxRelative5xx} × the stable cluster's (${floor})` +
        describeLatencyRules(a) +
        describeConnectionRules(a, a.countsAttempts)
    : `judged from the backend-wide 5xx ratio only (the ${driver} driver counts no 5xx per member, ` +
        `so canary and stable are not compared): reversed when, with at least ${a.minRequests} requests, ` +
        `it is > ${pct(a.max5xxRatio)}`;
}

/** The latency rules of an analysis, as the plan says them after the 5xx ones (nothing when neither is set). */
function describeLatencyRules(a: CanaryAnalysis): string {
  const rules = [
    ...(a.maxLatencyMs !== undefined ? [`> ${a.maxLatencyMs} ms`] : []),
    ...(a.maxRelativeLatency !== undefined
      ? [`> ${a.maxRelativeLatency} × the stable cluster's (taken as at least ${LATENCY_FLOOR_MS} ms)`]
      : []),
  ];
  return rules.length ? `, or its mean response time ${rules.join(' or ')}` : '';
}

/**
 * The canary steps that take the place of `ready`, the first cluster's return to the pool, and
 * what the plan records of them. Refused when the balancer cannot weigh members, when the other
 * cluster has nothing in the pool to be the stable side, or when the driver's weight range cannot
 * come near a share.
 */
export function canarySteps(
  ready: StepOf<'ready'>,
  stableMembers: string[],
  input: CanaryInput,
  config: Config,
): { steps: Step[]; record: PlanCanary } {
  const range = refuseCanary(ready, stableMembers, input, config);
  const c: ClusterId = ready.cluster;
  const members = ready.members;
  const at: CanaryAt = {
    c,
    label: `cluster ${c} (${config.clusters[c].internal})`,
    members,
    stableMembers,
    observed: Object.fromEntries([...members, ...stableMembers].map((m) => [m, input.weights[m] ?? 1])),
  };
  const { queries, ...thresholds } = input.analysis;
  const stable: ClusterId = c === 'a' ? 'b' : 'a';
  const hosts = (id: ClusterId) => config.clusters[id].hosts.map((h) => h.host);
  const sides = { canary: c, stable, canaryHosts: hosts(c), stableHosts: hosts(stable) };
  const asked = queries?.length
    ? { queries: queriesFor(queries, { ...sides, canaryMembers: members, stableMembers }) }
    : {};
  const analysis: CanaryAnalysis = {
    ...thresholds,
    scope: input.scope,
    ...asked,
    ...(input.countsAttempts !== undefined ? { countsAttempts: input.countsAttempts } : {}),
  };
  const steps = input.steps.map((s, i): Step => {
    const w = canaryWeights(s.weight, members.length, stableMembers.length, range);
    refuseFarShare(s.weight, w.percent, range, at, config);
    const id = `canary-${c}-${i + 1}`;
    const how = i === 0 ? `return ${at.label} to the pool at` : `move ${at.label} to`;
    return {
      id,
      kind: 'canary',
      title:
        `canary ${i + 1}/${input.steps.length}: ${how} ${s.weight}% of public traffic ` +
        `for ${formatDuration(s.forMs)} (weights ${members.join(', ')} ${w.canary}, ${stableMembers.join(', ')}` +
        ` ${w.stable}: ${w.percent.toFixed(2)}%); ${describeAnalysis(analysis, config.balancer.driver)}`,
      cluster: c,
      members,
      stableMembers,
      weight: s.weight,
      forMs: s.forMs,
      weights: Object.fromEntries([
        ...members.map((m) => [m, w.canary] as const),
        ...stableMembers.map((m) => [m, w.stable] as const),
      ]),
      analysis,
      ...(i === 0 && ready.vouchHealthy ? { vouchHealthy: true as const } : {}),
      undo: canaryUndo(id, at),
    };
  });
  const end: Step = {
    id: `canary-${c}-end`,
    kind: 'weigh',
    title:
      `end the canary: put the weights back as observed (${describeWeights(at.observed)}), ${at.label}` +
      ' takes its full share',
    cluster: c,
    weights: at.observed,
    undo: [],
  };
  const sessions = config.balancer.driver === 'haproxy' ? config.balancer.sessions : undefined;
  return {
    steps: [...steps, end],
    record: {
      steps: input.steps,
      analysis: input.analysis,
      range,
      scope: input.scope,
      ...(input.countsAttempts !== undefined ? { countsAttempts: input.countsAttempts } : {}),
      weights: at.observed,
      ...(sessions ? { sticky: sessions.track } : {}),
    },
  };
}

/** The canary cluster, how people name it, both sides' members and the weights observed before. */
interface CanaryAt {
  c: ClusterId;
  label: string;
  members: string[];
  stableMembers: string[];
  observed: Record<string, number>;
}

/** Refused before any step is made: a balancer that cannot weigh, or a side with nothing in the pool. */
function refuseCanary(
  ready: StepOf<'ready'>,
  stableMembers: string[],
  input: CanaryInput,
  config: Config,
): { min: number; max: number } {
  const { weighing } = input;
  if (!weighing.can)
    throw new UserError(
      'baton.yml asks for canary steps, ' +
        `and the ${config.balancer.driver} balancer cannot weigh members: ${weighing.reason}`,
      'push with --no-canary, or remove canary: from baton.yml',
    );
  const c: ClusterId = ready.cluster;
  const empty: ClusterId = ready.members.length ? (c === 'a' ? 'b' : 'a') : c;
  if (!ready.members.length || !stableMembers.length)
    throw new UserError(
      `a canary needs members of both clusters in the pool: cluster ${empty} has none`,
      'push with --no-canary',
    );
  return { min: weighing.min, max: weighing.max };
}

/** A share the driver's weight range cannot come near is refused, with the nearest it can set. */
function refuseFarShare(
  weight: number,
  percent: number,
  range: { min: number; max: number },
  at: CanaryAt,
  config: Config,
): void {
  if (Math.abs(percent - weight) <= weight * SHARE_TOLERANCE) return;
  throw new UserError(
    `a canary share of ${weight}% cannot be set with ${config.balancer.driver} weights ${range.min}` +
      `-${range.max} and ${at.members.length} canary and ${at.stableMembers.length} stable members: ` +
      `the nearest is ${percent.toFixed(2)}%`,
    'choose another weight in canary.steps (or --canary)',
  );
}

/** A canary step's undo: the weights back as observed, then the canary cluster drained (as a failed smoke check). */
function canaryUndo(id: string, { c, label, members, observed }: CanaryAt): Step[] {
  return [
    {
      id: `undo-${id}`,
      kind: 'weigh',
      title: `put the weights back as observed (${describeWeights(observed)})`,
      cluster: c,
      weights: observed,
      undo: [],
    },
    {
      id: `undo-${id}-drain`,
      kind: 'drain',
      title: `drain ${label}: ${members.join(', ')}`,
      cluster: c,
      members,
      undo: [],
    },
    {
      id: `undo-${id}-wait`,
      kind: 'wait-drain',
      title: `wait for in-flight requests on ${label} to finish`,
      cluster: c,
      members,
      undo: [],
    },
  ];
}

function describeWeights(weights: Record<string, number>): string {
  return Object.entries(weights)
    .map(([m, w]) => `${m} ${w}`)
    .join(', ');
}

/** The planner's input from what a plan recorded: a resume or an apply remakes the same steps. */
export function canaryInputOf(record: PlanCanary): CanaryInput {
  return {
    steps: record.steps,
    analysis: record.analysis,
    weighing: { can: true, ...record.range },
    scope: record.scope,
    ...(record.countsAttempts !== undefined ? { countsAttempts: record.countsAttempts } : {}),
    weights: record.weights,
  };
}
