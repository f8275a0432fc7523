// What the balancer shows of traffic while a run lasts: sampled every few hundred milliseconds,
// journaled (`sample` events), streamed with --format jsonl, drawn by `baton report` and shown
// beside the steps on a terminal. Only counters the drivers already read.
import type { MemberState } from '../balancers/types.js';
import type { ClusterId } from '../config/config.js';

export interface MemberSample {
  name: string;
  /** The cluster the member's host belongs to (absent: a member baton.yml does not name). */
  cluster?: ClusterId;
  state: MemberState;
  /** Requests or sessions in flight on the member. */
  sessions: number;
}

/**
 * One look at the balancer. Counters are cumulative since the balancer started; absent where the driver cannot count
 * them.
 */
export interface TrafficSample {
  /** When it was taken (ISO 8601, this machine's clock). */
  at: string;
  members: MemberSample[];
  requests?: number;
  http5xx?: number;
  /** With balancer.peers: members whose state differs between balancers at that moment (kept in the journal). */
  divergent?: string[];
}

/** In-flight sessions and members in the pool, per cluster: what a terminal shows beside the steps. */
export function perCluster(
  sample: TrafficSample,
): Record<ClusterId, { sessions: number; inPool: number; members: number }> {
  const out = { a: { sessions: 0, inPool: 0, members: 0 }, b: { sessions: 0, inPool: 0, members: 0 } };
  for (const m of sample.members) {
    if (!m.cluster) continue;
    const c = out[m.cluster];
    c.members++;
    c.sessions += m.sessions;
    if (m.state === 'ready') c.inPool++;
  }
  return out;
}
