// The `--lock-wait DURATION` flag of the commands that start a release, read the same way everywhere.
import { Flags } from '@oclif/core';
import { durationFlagMs } from './duration-flag.js';
import type { Session } from '../engine/session.js';
import { waitForLock } from '../release/lock-wait.js';
import { writeErr } from '../output.js';

export const lockWaitFlag = Flags.string({
  description:
    'if another release holds the lock, wait up to this long for it before giving up (exit 4); ' +
    'production is looked at only after the wait',
  helpValue: 'DURATION',
});

/** The wait in ms (undefined: do not wait); a bad value is a usage error, before anything connects. */
export function lockWaitMs(value: string | undefined): number | undefined {
  return durationFlagMs('--lock-wait', value, 'e.g. --lock-wait 10m');
}

/**
 * Wait for the lock when asked to, saying once on stderr whom we wait for; never for the lock of `takeOver`, the run
 * this one continues or undoes.
 */
export async function waitForLockIfAsked(
  session: Session,
  waitMs: number | undefined,
  takeOver?: string,
): Promise<void> {
  if (!waitMs) return;
  await waitForLock(session.lock, {
    waitMs,
    host: session.config.balancer.host,
    ...(takeOver !== undefined ? { takeOver } : {}),
    onWaiting: (h) =>
      writeErr(
        `waiting up to ${Math.round(waitMs / 1000)}s for the release lock on ${session.config.balancer.host}` +
          `, held by ${h.by} since ${h.since}${h.tag ? ` (pushing ${h.tag})` : ''}: ${h.reason}\n`,
      ),
  });
}
