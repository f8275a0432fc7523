// The release lock as steps: taken first, released last. Neither changes production.
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';
import type { StepEnv } from './env.js';

export async function runLock(env: StepEnv): Promise<unknown> {
  if (env.preLocked)
    return { lock: env.config.lock.path, host: env.config.balancer.host, taken: 'before the plan was made' };
  const details = await env.lock.acquire(env.lockOwner, new Date(), env.takeOverLockOf);
  return { lock: env.config.lock.path, host: env.config.balancer.host, expires: details.expires };
}

export async function runUnlock(env: StepEnv): Promise<unknown> {
  return { released: await env.lock.release(env.lockOwner.run) };
}

export const lockKind: StepKindSpec<'lock'> = { kind: 'lock', ...STEP_TRAITS.lock, run: (_s, env) => runLock(env) };

export const unlockKind: StepKindSpec<'unlock'> = {
  kind: 'unlock',
  ...STEP_TRAITS.unlock,
  run: (_s, env) => runUnlock(env),
};
