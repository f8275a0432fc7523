import type { StepEnv } from './env.js';

export async function runLock(env: StepEnv): Promise<unknown> {
  const details = await env.lock.acquire(env.lockOwner);
  return { lock: env.config.lock.path, host: env.config.balancer.host, expires: details.expires };
}

export async function runUnlock(env: StepEnv): Promise<unknown> {
  return { released: await env.lock.release(env.lockOwner.run) };
}
