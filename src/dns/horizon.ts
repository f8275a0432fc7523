// When a DNS change is safe to rely on. A cache may hold an answer for its TTL from the
// moment it fetched it, and a change is visible only once every authoritative server serves
// it (FACTS: new serial everywhere, plus the largest old TTL, plus the negative TTL when the
// name did not exist before). All pure arithmetic, in seconds, on Dates.

export interface HorizonInput {
  /** When every authoritative server was seen serving the new record. */
  confirmedAt: Date;
  /** Largest TTL the authoritative servers gave the old answer (CNAME chain included). */
  oldTtl: number;
  /** Whether the name had an answer before; if not, caches may hold "no such name". */
  existedBefore: boolean;
  /** min(SOA MINIMUM, SOA TTL). */
  negativeTtl: number;
}

/** The moment after which no cache anywhere can still hold the old answer. */
export function cacheHorizon(i: HorizonInput): Date {
  const hold = i.existedBefore ? i.oldTtl : Math.max(i.oldTtl, i.negativeTtl);
  return new Date(i.confirmedAt.getTime() + hold * 1000);
}

/** Seconds from `now` until `at` (0 when it has passed). */
export function secondsUntil(at: Date, now: Date): number {
  return Math.max(0, Math.ceil((at.getTime() - now.getTime()) / 1000));
}

export interface Schedule {
  /** When the transitional name can be relied on by every client. */
  transitionalUsable: Date;
  /** Cut-over needs the proxy tried on its side port, and the transitional name usable. */
  cutover: Date;
  /** If the record is switched right after cut-over: when no cache holds the old address. */
  horizon: Date;
  /** The horizon plus the quiet period: the earliest the proxy may go. */
  finish: Date;
}

export interface ScheduleInput {
  now: Date;
  /** When the transitional record was first seen on every server (now, if it is created now). */
  transitionalSince: Date;
  /** Whether the transitional name answered before baton created it. */
  transitionalExisted: boolean;
  negativeTtl: number;
  siteTtl: number;
  quietMs: number;
  /** With the TTL lowered ahead of the move: until when caches may still hold the answer fetched under the old TTL. */
  oldTtlRunsOut?: Date;
}

/** The earliest safe time of each step, if each is taken as soon as allowed. */
export function schedule(i: ScheduleInput): Schedule {
  const transitionalUsable = cacheHorizon({
    confirmedAt: i.transitionalSince,
    oldTtl: 0,
    existedBefore: i.transitionalExisted,
    negativeTtl: i.negativeTtl,
  });
  const cutover = new Date(Math.max(i.now.getTime(), transitionalUsable.getTime(), i.oldTtlRunsOut?.getTime() ?? 0));
  const horizon = cacheHorizon({
    confirmedAt: cutover,
    oldTtl: i.siteTtl,
    existedBefore: true,
    negativeTtl: i.negativeTtl,
  });
  return { transitionalUsable, cutover, horizon, finish: new Date(horizon.getTime() + i.quietMs) };
}
