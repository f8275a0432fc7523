// `--lock-wait`: wait for another release's lock to go (released, or its lease run out) before
// production is looked at, as Terraform's -lock-timeout does. Nothing is planned while waiting:
// the plan is made afterwards, from the state the other release left behind.
import { formatDuration } from '../config/duration.js';
import type { LockDetails, LockReading } from '../engine/lock.js';
import { LockHeldError } from '../errors.js';

export interface LockWaitOptions {
  /** Give up (exit 4) after this long. */
  waitMs: number;
  /** The lock host, for the message. */
  host: string;
  /** How often to look again (default 2 s). */
  pollMs?: number;
  /**
   * The run whose lock this one takes over (the killed or held run a resume or rollback continues): its lock is not
   * waited for.
   */
  takeOver?: string;
  /** Told once, when the wait begins, who holds the lock. */
  onWaiting?: (holder: LockDetails) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Resolves once nobody holds the lock (or its lease has run out, or the run holding it is the one taken over); throws
 * LockHeldError when the wait runs out first.
 */
export async function waitForLock(lock: { inspect(): Promise<LockReading> }, opts: LockWaitOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + opts.waitMs;
  let told = false;
  for (;;) {
    const { details, hostNow } = await lock.inspect();
    // The lease is judged on the lock host's clock, which wrote it.
    if (!details || Date.parse(details.expires) <= hostNow.getTime()) return;
    if (opts.takeOver !== undefined && details.run === opts.takeOver) return;
    const left = deadline - now();
    if (left <= 0) {
      throw new LockHeldError(
        `release lock on ${opts.host} is still held by ${details.by} ` +
          `since ${details.since}${details.tag ? ` (pushing ${details.tag})` : ''} after ` +
          `waiting ${formatDuration(opts.waitMs)}: ${details.reason}; it expires ${details.expires}`,
        { ...details },
      );
    }
    if (!told) {
      told = true;
      opts.onWaiting?.(details);
    }
    await sleep(Math.min(opts.pollMs ?? 2_000, left));
  }
}
