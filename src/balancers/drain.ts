// Waiting for a drain to finish, for any driver: poll the in-flight count of the drained
// members until every one is zero, or say which are still busy when the time is up.
import type { Balancer, DrainProgress } from './types.js';

export interface WaitForDrainOptions {
  timeoutMs: number;
  /** Between polls; each poll is one round trip to the balancer. */
  pollMs?: number;
  /** Called after every poll with the members still busy. */
  onProgress?: (p: DrainProgress) => void;
  /** Injected for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type DrainResult =
  | { drained: true; elapsedMs: number; polls: number }
  | { drained: false; busy: Record<string, number>; elapsedMs: number; polls: number };

/**
 * Resolves once `names` have no sessions left, or at the timeout with the busy ones (the caller decides whether to cut
 * them off).
 */
export async function waitForDrain(
  balancer: Pick<Balancer, 'sessions'>,
  names: readonly string[],
  opts: WaitForDrainOptions,
): Promise<DrainResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = opts.pollMs ?? 100;
  const start = now();
  let polls = 0;
  for (;;) {
    const sessions = names.length === 0 ? {} : await balancer.sessions(names);
    polls++;
    const elapsedMs = now() - start;
    const busy = Object.fromEntries(Object.entries(sessions).filter(([, n]) => n > 0));
    opts.onProgress?.({ busy, elapsedMs });
    if (Object.keys(busy).length === 0) return { drained: true, elapsedMs, polls };
    if (elapsedMs >= opts.timeoutMs) return { drained: false, busy, elapsedMs, polls };
    await sleep(Math.min(pollMs, opts.timeoutMs - elapsedMs));
  }
}
