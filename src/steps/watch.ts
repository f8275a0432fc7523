// Watch after a flip: for the configured time, read the balancer's 5xx counter for the public
// backend; above the configured share of requests, fail, and the executor reverses the push.
import { OperationFailedError } from '../errors.js';
import { abortableSleep } from '../engine/interrupts.js';
import type { Progress, StepEnv } from './env.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

/** Fewer requests than this in the window say nothing about an error rate. */
const MIN_REQUESTS = 20;

export async function runWatch(
  env: StepEnv,
  progress: Progress,
  opts: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<unknown> {
  const watch = env.config.watch;
  if (!watch) return { skipped: 'no watch configured' };
  const start = await env.balancer.counters();
  const began = Date.now();
  let last = { requests: 0, errors: 0 };
  while (Date.now() - began < watch.duration) {
    await abortableSleep(Math.min(opts.pollMs ?? 1000, watch.duration - (Date.now() - began)), opts.signal);
    const now = await env.balancer.counters();
    last = { requests: now.requests - start.requests, errors: now.http5xx - start.http5xx };
    const ratio = last.requests ? last.errors / last.requests : 0;
    progress(
      `${last.errors} 5xx in ${last.requests} requests (${(ratio * 100).toFixed(2)}%, ` +
        `limit ${(watch.max5xxRatio * 100).toFixed(2)}%)`,
    );
    if (last.requests >= MIN_REQUESTS && ratio > watch.max5xxRatio) {
      throw new OperationFailedError(
        `${last.errors} of ${last.requests} requests answered 5xx after the flip ` +
          `(${(ratio * 100).toFixed(2)}% > ${(watch.max5xxRatio * 100).toFixed(2)}% allowed)`,
      );
    }
  }
  return last;
}

export const watchKind: StepKindSpec<'watch'> = {
  kind: 'watch',
  ...STEP_TRAITS.watch,
  run: (_step, env, progress) => runWatch(env, progress, env.signal ? { signal: env.signal } : {}),
};
