// Waiting for users, not just requests: a drained member still takes the requests of the sticky
// sessions bound to it (HAProxy's drain honours persistence), so a user halfway through a
// checkout finishes on the release they started on. The wait ends when, on every drained member,
// no request is in flight and every session is over: gone from the stick table, or idle past the
// limit. A session cannot have had a request after the member's last one, so the member's time
// since its last request is a lower bound of every bound session's idle time — the one the
// balancer can vouch for; a session seen taking a request while baton watches is named as active.
import type { Balancer, SessionRead } from './types.js';

export interface SessionDrainOptions {
  /** A session with no request for this long is over. */
  idleAfterMs: number;
  timeoutMs: number;
  /** Stick table whose entries bind sessions to members; without one, only idle time is known. */
  table?: string;
  /** Between polls; each poll is one round trip to the balancer. */
  pollMs?: number;
  onProgress?: (left: SessionsLeft[], elapsedMs: number) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Who is still on a drained member. */
export interface SessionsLeft {
  member: string;
  inFlight: number;
  /** Sessions bound to it in the stick table (undefined without a table). */
  bound?: number;
  /**
   * Bound sessions seen taking a request during the wait. Counted, never named: a key is a user's session cookie, a
   * credential.
   */
  active?: number;
  /** Ms since the member last took a request; null: never. */
  idleMs: number | null;
}

export interface SessionDrainResult {
  drained: boolean;
  elapsedMs: number;
  polls: number;
  /** Sessions bound to the drained members when the wait began (with a table). */
  boundAtStart?: number;
  /** Sessions bound when it ended: over by idle time, not yet expired from the table. */
  boundAtEnd?: number;
  /** Bound sessions seen taking a request during the wait: users who finished on the release they started on. */
  activeDuringWait?: number;
  /** Members still in use when the time ran out. */
  left: SessionsLeft[];
}

/** Follows stick-table entries between polls: an entry whose time to expiry went up took a request. */
export class SessionTracker {
  private readonly expiry = new Map<string, number>();
  private readonly touched = new Set<string>();
  boundAtStart: number | undefined;

  constructor(private readonly idleAfterMs: number) {}

  /** What is left after this read: only members someone is still using. */
  observe(read: SessionRead, names: readonly string[]): SessionsLeft[] {
    if (read.bound && this.boundAtStart === undefined)
      this.boundAtStart = names.reduce((n, m) => n + (read.bound?.[m]?.length ?? 0), 0);
    const left: SessionsLeft[] = [];
    for (const member of names) {
      const inFlight = read.inFlight[member] ?? 0;
      const idleMs = read.idleMs[member] ?? null;
      const entries = read.bound?.[member];
      let active = 0;
      for (const e of entries ?? []) {
        const id = `${member}\0${e.key}`;
        const before = this.expiry.get(id);
        if (before !== undefined && e.expiresInMs > before) this.touched.add(id);
        this.expiry.set(id, e.expiresInMs);
        if (this.touched.has(id)) active++;
      }
      // Idle past the limit (or never used) covers every session on it; with a table, no entry left means no session.
      const idle = idleMs === null || idleMs >= this.idleAfterMs;
      const sessionsOver = entries ? entries.length === 0 || idle : idle;
      if (inFlight === 0 && sessionsOver) continue;
      left.push({ member, inFlight, ...(entries ? { bound: entries.length, active } : {}), idleMs });
    }
    return left;
  }

  get activeDuringWait(): number {
    return this.touched.size;
  }
}

/** Resolves once no user is left on `names`, or at the timeout with who is. */
export async function waitForSessions(
  balancer: Required<Pick<Balancer, 'stickySessions'>>,
  names: readonly string[],
  opts: SessionDrainOptions,
): Promise<SessionDrainResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = opts.pollMs ?? 500;
  const tracker = new SessionTracker(opts.idleAfterMs);
  const start = now();
  let polls = 0;
  for (;;) {
    const read = names.length === 0 ? { idleMs: {}, inFlight: {} } : await balancer.stickySessions(names, opts.table);
    polls++;
    const left = tracker.observe(read, names);
    const elapsedMs = now() - start;
    opts.onProgress?.(left, elapsedMs);
    const boundAtEnd = read.bound ? names.reduce((n, m) => n + (read.bound?.[m]?.length ?? 0), 0) : undefined;
    const result = {
      elapsedMs,
      polls,
      ...(tracker.boundAtStart !== undefined
        ? { boundAtStart: tracker.boundAtStart, boundAtEnd, activeDuringWait: tracker.activeDuringWait }
        : {}),
      left,
    };
    if (left.length === 0) return { drained: true, ...result };
    if (elapsedMs >= opts.timeoutMs) return { drained: false, ...result };
    await sleep(Math.min(pollMs, opts.timeoutMs - elapsedMs));
  }
}

/** `web1a: 3 sessions bound (2 active), 1 request in flight, last request 4 s ago`. */
export function describeSessionsLeft(left: readonly SessionsLeft[]): string {
  return left
    .map((l) => {
      const parts: string[] = [];
      if (l.bound !== undefined)
        parts.push(`${l.bound} session${l.bound === 1 ? '' : 's'} bound${l.active ? ` (${l.active} active)` : ''}`);
      if (l.inFlight > 0) parts.push(`${l.inFlight} request${l.inFlight === 1 ? '' : 's'} in flight`);
      parts.push(l.idleMs === null ? 'no request yet' : `last request ${Math.round(l.idleMs / 1000)} s ago`);
      return `${l.member}: ${parts.join(', ')}`;
    })
    .join('; ');
}
