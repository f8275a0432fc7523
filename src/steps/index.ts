// The step runner a run hands each step to: its kind's module carries it out.
import type { Session } from '../engine/session.js';
import type { Observation } from '../engine/observe.js';
import { BugError } from '../errors.js';
import type { Step } from '../model/plan.js';
import { isPushStep, type AnyStep } from '../model/steps.js';
import { reverseSteps } from '../model/plan.js';
import type { Progress, StepEnv } from './env.js';
import { stepKind } from './registry.js';

function stepRunner(env: StepEnv, plan: { forward: readonly Step[] }) {
  // Releases the undo steps would switch back to must survive pruning (done while staging).
  const wayBack: Record<string, string[]> = {};
  for (const s of reverseSteps(plan.forward)) {
    if (!stepKind(s.kind).changesProduction || !s.releases) continue;
    for (const [host, dir] of Object.entries(s.releases)) (wayBack[host] ??= []).push(dir);
  }
  return async (step: AnyStep, progress: Progress, signal?: AbortSignal): Promise<unknown> => {
    if (!isPushStep(step)) throw new BugError(`a push's runner was handed the ${step.kind} step ${step.id}`);
    return stepKind(step.kind).run(step, { ...env, wayBack, ...(signal ? { signal } : {}) }, progress);
  };
}

/** What a run against a session adds to it for its steps: the lock's owner, the release and its archive. */
export type SessionStepEnv = Pick<StepEnv, 'lockOwner' | 'release' | 'artifact' | 'takeOverLockOf' | 'preLocked'>;

/**
 * The step runner of a run against a session: the session's connections, and where the balancer sends each host's
 * traffic as observed.
 */
export function sessionStepRunner(
  session: Session,
  observation: Pick<Observation, 'membership'>,
  env: SessionStepEnv,
  plan: { forward: readonly Step[] },
) {
  const { membership } = observation;
  const endpoints = Object.fromEntries(
    [...membership.a, ...membership.b].map((m) => [
      m.host,
      { address: m.address, ...(m.port !== undefined ? { port: m.port } : {}) },
    ]),
  );
  const { config, secrets, transports, balancer, lock } = session;
  return stepRunner({ config, secrets, transports, balancer, lock, endpoints, ...env }, plan);
}
