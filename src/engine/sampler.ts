// Sample the balancer while a run lasts, so what happened to traffic is part of the record:
// every ~500 ms, members' states and sessions and, where cheap, the backend's counters. It
// never fails or slows the run: a slow balancer skips ticks, a failure is reported once.
import type { Membership } from '../balancers/membership.js';
import type { Balancer, TrafficRead } from '../balancers/types.js';
import type { ClusterId } from '../config/config.js';
import { repeat } from './repeat.js';
import type { TrafficSample } from './traffic.js';

export const SAMPLE_EVERY_MS = 500;
/**
 * For a driver without `sample()`, counters() is read once in this many ticks (~5 s): it may
 * be costly (apache and nginx scan their whole error log in it).
 */
export const COUNTERS_EVERY_TICKS = 10;

export interface SamplingOptions {
  /** The cluster a member's host belongs to; undefined for a member baton.yml does not name. */
  clusterOf: (memberName: string) => ClusterId | undefined;
  everyMs?: number;
  onSample: (s: TrafficSample) => void;
  /** The first failure to sample (later ones are not reported: the balancer is the same). */
  onFirstError?: (err: unknown) => void;
}

/** How long stop() waits for a sample in flight before dropping it. */
export const STOP_GRACE_MS = 1_000;

/**
 * Start sampling; the returned stop() clears the timer and resolves once a sample in flight has landed (or after
 * STOP_GRACE_MS, dropping it).
 */
export function startSampling(balancer: Balancer, opts: SamplingOptions): () => Promise<void> {
  let ticks = 0;
  let failed = false;
  let stopped = false;
  const take = async (): Promise<void> => {
    const withCounters = ticks++ % COUNTERS_EVERY_TICKS === 0;
    const read: TrafficRead = balancer.sample ? await balancer.sample() : await readApart(balancer, withCounters);
    if (stopped) return; // landed after the run's end: not part of its record
    opts.onSample({
      at: new Date().toISOString(),
      members: read.members.map((m) => {
        const cluster = opts.clusterOf(m.name);
        return { name: m.name, ...(cluster ? { cluster } : {}), state: m.state, sessions: m.sessions + m.queued };
      }),
      ...(read.requests !== undefined ? { requests: read.requests } : {}),
      ...(read.http5xx !== undefined ? { http5xx: read.http5xx } : {}),
      ...(read.divergent?.length ? { divergent: read.divergent } : {}),
    });
  };
  const sampling = repeat(opts.everyMs ?? SAMPLE_EVERY_MS, () =>
    take().catch((err: unknown) => {
      if (failed || stopped) return;
      failed = true;
      try {
        opts.onFirstError?.(err);
      } catch {
        // reporting the failure failed too (a full disk): the run still must not
      }
    }),
  );
  return async () => {
    // A balancer that hangs must not hold the run's end for its timeout: wait a moment, then drop the sample.
    await sampling.stop(STOP_GRACE_MS);
    stopped = true;
  };
}

/** members() every tick; counters() only when asked, and left out when it fails or the driver cannot count. */
async function readApart(balancer: Balancer, withCounters: boolean) {
  const [members, counters] = await Promise.all([
    balancer.members(),
    withCounters ? balancer.counters().catch(() => undefined) : undefined,
  ]);
  return { members, ...(counters ? { requests: counters.requests, http5xx: counters.http5xx } : {}) };
}

/** Member name → cluster, from the membership a run was planned against. */
export function clusterOfMembers(membership: Membership): (memberName: string) => ClusterId | undefined {
  const of = new Map<string, ClusterId>();
  for (const c of ['a', 'b'] as const) for (const m of membership[c]) of.set(m.member, c);
  return (name) => of.get(name);
}
