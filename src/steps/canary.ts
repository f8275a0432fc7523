// Canary steps: return a cluster to the pool at a share of public traffic (weights first, so it
// never takes more), hold it there for the step's time, and judge its 5xx answers against the
// stable cluster's over the same window from the balancer's own counters; weigh puts the
// observed weights back. A failed judgement fails the step, and the runner reverses the push.
import { OperationFailedError, UserError } from '../errors.js';
import { abortableSleep } from '../engine/interrupts.js';
import { judgeCanary, type Judgement, type Window } from '../model/canary.js';
import type { StepOf } from '../model/steps.js';
import { STEP_TRAITS } from '../model/step-kinds.js';
import type { Progress, StepEnv } from './env.js';
import type { StepKindSpec } from './kind.js';
import { returnToPool } from './pool.js';

interface Counted {
  canary: Window;
  stable?: Window;
}

/** What the balancer has counted so far for the canary's and the stable cluster's members (or the whole backend). */
function counter(step: StepOf<'canary'>, env: StepEnv): () => Promise<Counted> {
  const { balancer } = env;
  if (step.analysis.scope === 'backend') return async () => ({ canary: await balancer.counters() });
  const perMember = balancer.memberCounters?.bind(balancer);
  if (!perMember)
    throw new UserError(
      `step ${step.id} compares the canary's members with the stable ones, ` +
        `but the ${balancer.driver} driver counts no 5xx per member`,
      'make the plan again with the baton.yml it will run with',
    );
  const sum = (read: Record<string, Window>, names: string[]): Window =>
    names.reduce(
      (w, n) => ({ requests: w.requests + (read[n]?.requests ?? 0), http5xx: w.http5xx + (read[n]?.http5xx ?? 0) }),
      {
        requests: 0,
        http5xx: 0,
      },
    );
  return async () => {
    const read = await perMember();
    return { canary: sum(read, step.members), stable: sum(read, step.stableMembers) };
  };
}

const since = (now: Window, start: Window): Window => ({
  requests: now.requests - start.requests,
  http5xx: now.http5xx - start.http5xx,
});

export async function runCanary(
  step: StepOf<'canary'>,
  env: StepEnv,
  progress: Progress,
  opts: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<unknown> {
  const read = counter(step, env);
  // Weights before the members return: the canary never takes more than its share, not even for a moment.
  await env.balancer.setWeights(step.weights);
  const out = (await env.balancer.members()).filter((m) => step.members.includes(m.name) && m.state !== 'ready');
  if (out.length) await returnToPool(step.members, step.vouchHealthy === true, env, progress);
  const start = await read();
  const began = Date.now();
  let judged: Judgement = { verdict: 'too-few', canary: { requests: 0, http5xx: 0 } };
  while (Date.now() - began < step.forMs) {
    await abortableSleep(Math.min(opts.pollMs ?? 1000, step.forMs - (Date.now() - began)), opts.signal);
    const now = await read();
    judged = judgeCanary(
      since(now.canary, start.canary),
      now.stable && start.stable ? since(now.stable, start.stable) : undefined,
      step.analysis,
    );
    if (judged.verdict === 'fail')
      throw new OperationFailedError(
        `canary at ${step.weight}% failed its analysis on ${judged.metric}: ${judged.message}`,
      );
    progress(describe(step, judged));
  }
  return {
    weight: step.weight,
    weights: step.weights,
    verdict: judged.verdict,
    canary: judged.canary,
    ...(judged.stable ? { stable: judged.stable } : {}),
    ...(judged.verdict === 'too-few'
      ? { note: `fewer than ${step.analysis.minRequests} requests reached the canary: not judged` }
      : {}),
  };
}

function describe(step: StepOf<'canary'>, j: Judgement): string {
  const share = (w: Window) => `${w.http5xx} 5xx in ${w.requests}`;
  const stable = j.stable ? `, stable ${share(j.stable)}` : '';
  const waiting = j.verdict === 'too-few' ? ` (judging from ${step.analysis.minRequests} requests)` : '';
  return (
    `canary ${step.weight}%: ${step.analysis.scope === 'members' ? 'canary' : 'backend'}` +
    ` ${share(j.canary)}${stable}${waiting}`
  );
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
