// Canary steps: return a cluster to the pool at a share of public traffic (weights first, so it
// never takes more), hold it there for the step's time, and judge its 5xx answers, failed attempts
// and response times against the stable cluster's over the same window from the balancer's own counters; weigh puts the
// observed weights back. A failed judgement fails the step, and the runner reverses the push.
import { MemberCountsUnavailable, OperationFailedError, UserError } from '../errors.js';
import { abortableSleep } from '../engine/interrupts.js';
import type { MemberCounters } from '../balancers/types.js';
import { judgeCanary, membersWindow, type Judgement, type Window } from '../model/canary.js';
import type { StepOf } from '../model/steps.js';
import { STEP_TRAITS } from '../model/step-kinds.js';
import type { Progress, StepEnv } from './env.js';
import type { StepKindSpec } from './kind.js';
import { returnToPool } from './pool.js';
import { CanaryQueries, queryFailure } from './canary-queries.js';

/** One read of the counters: per member (members scope), or the whole backend's. */
type Read = { members: Record<string, MemberCounters> } | { backend: Window };

interface Counted {
  canary: Window;
  stable?: Window;
}

type Step = StepOf<'canary'>;
type Scope = Step['analysis']['scope'];

/**
 * What the balancer has counted so far for the canary's and the stable cluster's members (or the
 * whole backend). Where the driver finds it cannot count per member after all (an access log
 * whose lines do not name their member), it counts the backend from then on and says why.
 */
class Counter {
  scope: Scope;
  /** Why the members' counts gave way to the backend's. */
  fellBack?: string;

  constructor(
    private readonly step: Step,
    private readonly env: StepEnv,
    private readonly progress: Progress,
  ) {
    this.scope = step.analysis.scope;
    if (this.scope === 'members' && !env.balancer.memberCounters)
      throw new UserError(
        `step ${step.id} compares the canary's members with the stable ones, ` +
          `but the ${env.balancer.driver} driver counts no 5xx per member`,
        'make the plan again with the baton.yml it will run with',
      );
  }

  async read(): Promise<Read> {
    const { balancer } = this.env;
    if (this.scope === 'members')
      try {
        return { members: await (balancer.memberCounters as NonNullable<typeof balancer.memberCounters>)() };
      } catch (e) {
        if (!(e instanceof MemberCountsUnavailable)) throw e;
        this.scope = 'backend';
        this.fellBack = `${e.message}: judged on the backend-wide 5xx ratio instead`;
        this.progress(this.fellBack);
      }
    const { requests, http5xx } = await balancer.counters();
    return { backend: { requests, http5xx } };
  }

  /** Both sides over the window from `start` to `now` (reads of the same scope). */
  between(start: Read, now: Read): Counted {
    if ('members' in start && 'members' in now)
      return {
        canary: membersWindow(this.step.members, start.members, now.members),
        stable: membersWindow(this.step.stableMembers, start.members, now.members),
      };
    if ('backend' in start && 'backend' in now)
      return {
        canary: {
          requests: now.backend.requests - start.backend.requests,
          http5xx: now.backend.http5xx - start.backend.http5xx,
        },
      };
    throw new Error('canary counts of two scopes cannot be compared');
  }
}

export async function runCanary(
  step: Step,
  env: StepEnv,
  progress: Progress,
  opts: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<unknown> {
  const counter = new Counter(step, env, progress);
  // Weights before the members return: the canary never takes more than its share, not even for a moment.
  await env.balancer.setWeights(step.weights);
  const out = (await env.balancer.members()).filter((m) => step.members.includes(m.name) && m.state !== 'ready');
  if (out.length) await returnToPool(step.members, step.vouchHealthy === true, env, progress);
  let start = await counter.read();
  const began = Date.now();
  const queries = new CanaryQueries(step, env, began, progress);
  let judged: Judgement = { verdict: 'too-few', canary: { requests: 0, http5xx: 0 } };
  while (Date.now() - began < step.forMs) {
    await abortableSleep(Math.min(opts.pollMs ?? 1000, step.forMs - (Date.now() - began)), opts.signal);
    const scope = counter.scope;
    const now = await counter.read();
    // Fell back just now: the backend's counts start here, for what is left of the step.
    if (counter.scope !== scope) {
      start = now;
      continue;
    }
    const seen = counter.between(start, now);
    judged = judgeCanary(seen.canary, seen.stable, { ...step.analysis, scope: counter.scope });
    if (judged.verdict === 'fail')
      throw new OperationFailedError(
        `canary at ${step.weight}% failed its analysis on ${judged.metric}: ${judged.message}`,
        undefined,
        undefined,
        {
          weight: step.weight,
          weights: step.weights,
          verdict: judged.verdict,
          metric: judged.metric,
          scope: counter.scope,
          canary: judged.canary,
          ...(judged.stable ? { stable: judged.stable } : {}),
          ...(counter.fellBack ? { note: counter.fellBack } : {}),
        },
      );
    progress(describe(step, counter.scope, judged));
    const over = queries.poll();
    if (over) throw queryFailure(step, over, { scope: counter.scope, ...seen, ...queries.said() });
  }
  const asked = await queries.finish();
  if (asked.failed) {
    const seen = { canary: judged.canary, ...(judged.stable ? { stable: judged.stable } : {}) };
    throw queryFailure(step, asked.failed, { scope: counter.scope, ...seen, ...queries.said() });
  }
  const notes = [
    ...(counter.fellBack ? [counter.fellBack] : []),
    ...(judged.verdict === 'too-few'
      ? [`fewer than ${step.analysis.minRequests} requests reached the canary: not judged`]
      : []),
    ...(judged.verdict === 'pass' && latencyRules(step) && !judged.canary.latency
      ? [`the balancer kept no response times for the canary's members: latency not judged`]
      : []),
    ...asked.notes,
    ...(judged.verdict === 'pass' && connectionRules(step) && judged.canary.failed === undefined
      ? [`the balancer cannot tell which member failed an attempt: connection errors not judged`]
      : []),
  ];
  return {
    weight: step.weight,
    weights: step.weights,
    verdict: judged.verdict,
    scope: counter.scope,
    canary: judged.canary,
    ...(judged.stable ? { stable: judged.stable } : {}),
    ...(asked.queries ? { queries: asked.queries } : {}),
    ...(notes.length ? { note: notes.join('; ') } : {}),
  };
}

const latencyRules = (step: Step) =>
  step.analysis.maxLatencyMs !== undefined || step.analysis.maxRelativeLatency !== undefined;
const connectionRules = (step: Step) =>
  step.analysis.maxConnectionErrorRatio !== undefined || step.analysis.maxRelativeConnectionErrors !== undefined;

function describe(step: Step, scope: Scope, j: Judgement): string {
  const share = (w: Window) =>
    `${w.http5xx} 5xx in ${w.requests}` +
    (w.failed !== undefined ? `, ${w.failed} failed attempts` : '') +
    (w.latency ? `, mean ${w.latency.ms.toFixed(1)} ms` : '');
  const stable = j.stable ? `, stable ${share(j.stable)}` : '';
  const waiting = j.verdict === 'too-few' ? ` (judging from ${step.analysis.minRequests} requests)` : '';
  return `canary ${step.weight}%: ${scope === 'members' ? 'canary' : 'backend'} ${share(j.canary)}${stable}${waiting}`;
}

export async function runWeigh(step: StepOf<'weigh'>, env: StepEnv): Promise<unknown> {
  await env.balancer.setWeights(step.weights);
  return { weights: step.weights };
}

export const canaryKind: StepKindSpec<'canary'> = {
  kind: 'canary',
  ...STEP_TRAITS.canary,
  run: (step, env, progress) => runCanary(step, env, progress, env.signal ? { signal: env.signal } : {}),
  effect: (step, state) => step.members.forEach((m) => (state.memberState[m] = 'ready')),
};

export const weighKind: StepKindSpec<'weigh'> = {
  kind: 'weigh',
  ...STEP_TRAITS.weigh,
  run: (step, env) => runWeigh(step, env),
};
