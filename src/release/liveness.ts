// Is the process holding the release lock still alive? Its heartbeat says so within seconds; a
// journal that did not end says nothing (a killed run's journal ends the same way as a live one's).
import { HEARTBEAT_MS, type LockDetails } from '../engine/lock.js';

/** A run is gone after this long without a beat: a few missed beats, not one slow round trip. */
export const GONE_AFTER_MS = 5 * HEARTBEAT_MS;

export type Liveness =
  /** Its heartbeat is recent: the run is going on now. */
  | { state: 'running'; heartbeatAgoMs: number }
  /** Its heartbeat stopped: the process is gone, though its lease may not have run out. */
  | { state: 'gone'; heartbeatAgoMs: number }
  /** No heartbeat (taken by hand, or by an older baton): only its lease tells, live or run out. */
  | { state: 'leased' | 'expired' };

/**
 * How alive the lock's holder is. The heartbeat was stamped by the lock host's clock, so its age
 * is measured against that clock (`hostNow`); the lease was written by the holder's clock, so
 * it is compared with ours (`now`).
 */
export function lockLiveness(lock: LockDetails, hostNow: Date, now: Date): Liveness {
  if (lock.heartbeat) {
    const heartbeatAgoMs = Math.max(0, hostNow.getTime() - Date.parse(lock.heartbeat));
    return { state: heartbeatAgoMs <= GONE_AFTER_MS ? 'running' : 'gone', heartbeatAgoMs };
  }
  return { state: Date.parse(lock.expires) <= now.getTime() ? 'expired' : 'leased' };
}
