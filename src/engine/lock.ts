// The release lock on the balancer host: a directory that appears atomically (rename) with its
// details already inside (who, when, why, which tag, until when). A lease makes a lock from a
// cancelled CI job expire by itself. Every operation is one round trip: a rollback is timed.
// A running process also beats a heartbeat every few seconds, so `status` can tell a live run
// from a dead one long before its lease runs out.
import { posix } from 'node:path';
import { ExternalCommandError, LockHeldError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { acquireLock, beatHeartbeat, readLock, removeLock, renewLease } from './release-lock-commands.js';
import { repeat } from './repeat.js';

export interface LockDetails {
  by: string;
  reason: string;
  tag?: string;
  run?: string;
  /** The environment (`-e NAME`) of the run or person holding it; absent: baton.yml alone. */
  environment?: string;
  since: string;
  expires: string;
  /**
   * When the holding process last showed it is alive (the lock host's clock); absent for a lock taken by hand or by an
   * older baton.
   */
  heartbeat?: string;
}

/**
 * The lock as read in one round trip, with the lock host's clock at that moment: a heartbeat's age is measured on the
 * clock that wrote it.
 */
export interface LockReading {
  details: LockDetails | null;
  hostNow: Date;
}

/** The lock directory is there, but what is inside is not a lock's details (made by hand, or left half-removed). */
export class UnreadableLockError extends ExternalCommandError {}

export class ReleaseLock {
  constructor(
    private readonly transport: Transport,
    private readonly dir: string,
    private readonly leaseMs: number,
    /** Recorded in the lock's details, for `status` to show whose lock it is. */
    private readonly environment?: string,
  ) {}

  /**
   * Take the lock, or throw LockHeldError naming the holder. An expired lease is taken over, and
   * so is a lock held by `takeOverRun` (the interrupted run a rollback or resume is cleaning up after).
   */
  async acquire(
    who: Omit<LockDetails, 'since' | 'expires'>,
    now = new Date(),
    takeOverRun?: string,
  ): Promise<LockDetails> {
    const expires = new Date(now.getTime() + this.leaseMs);
    const details: LockDetails = {
      ...who,
      ...(this.environment !== undefined && { environment: this.environment }),
      since: now.toISOString(),
      expires: expires.toISOString(),
    };
    const r = await this.transport.run(acquireLock(this.dir, { now, run: who.run, takeOverRun, expires }), {
      stdin: JSON.stringify(details),
      allowFailure: true,
    });
    if (r.code === 0) return details;
    if (r.code !== 3) throw new ExternalCommandError(this.transport.host, ['lock', this.dir], r.code, r.stderr.trim());
    const holder = parseDetails(r.stdout);
    throw new LockHeldError(
      holder
        ? `release lock on ${this.transport.host} is held by ${holder.by} ` +
            `since ${holder.since}${holder.tag ? ` (pushing ${holder.tag})` : ''}: ${holder.reason}; ` +
            `it expires ${holder.expires}`
        : `release lock on ${this.transport.host} (${this.dir}) is held, and its details cannot be read; ` +
            `if no run is using it, \`baton unlock --force --reason TEXT\` removes it`,
      holder ? { ...holder } : undefined,
    );
  }

  /** Extend the lease of a lock we hold. */
  async renew(run: string, now = new Date()): Promise<void> {
    const current = await this.read();
    if (!current || current.run !== run) return;
    const expires = new Date(now.getTime() + this.leaseMs);
    const { heartbeat: _, ...details } = current; // the heartbeat has a file of its own
    await this.transport.run(renewLease(this.dir, run, expires), {
      stdin: JSON.stringify({ ...details, expires: expires.toISOString() }),
      allowFailure: true,
    });
  }

  /** Record that run's process is alive, if run holds the lock (one round trip). */
  async beat(run: string): Promise<void> {
    await this.transport.run(beatHeartbeat(this.dir, run), { allowFailure: true });
  }

  /** Release the lock; only the run that holds it may, unless forced. Returns false when it is someone else's. */
  async release(run?: string, force = false): Promise<boolean> {
    const r = await this.transport.run(removeLock(this.dir, force ? undefined : run), {
      allowFailure: true,
    });
    if (r.code === 0) return true;
    if (r.code === 3) return false;
    throw new ExternalCommandError(this.transport.host, ['unlock', this.dir], r.code, r.stderr.trim());
  }

  /** The lock's details, null when there is none; throws when the host cannot be asked or the lock cannot be read. */
  async read(): Promise<LockDetails | null> {
    return (await this.inspect()).details;
  }

  /** The lock and the lock host's clock, in one round trip; throws rather than call an unreadable lock free. */
  async inspect(): Promise<LockReading> {
    const r = await this.transport.run(readLock(this.dir), { allowFailure: true });
    const unreadable = (why: string) =>
      new UnreadableLockError(this.transport.host, ['read lock', this.dir], r.code, why, 'unchanged');
    const [clock = '', beat = '', ...rest] = r.stdout.split('\n');
    if (r.code !== 0)
      throw r.code === 2
        ? unreadable(r.stderr.trim())
        : new ExternalCommandError(this.transport.host, ['read lock', this.dir], r.code, r.stderr.trim(), 'unchanged');
    if (!/^\d+$/.test(clock.trim())) throw unreadable(`unexpected answer: ${JSON.stringify(r.stdout.slice(0, 80))}`);
    const hostNow = new Date(Number(clock.trim()) * 1000);
    if (rest.length === 0) return { details: null, hostNow }; // the clock alone: no lock
    const details = parseDetails(rest.join('\n'));
    if (!details) throw unreadable(`${posix.join(this.dir, 'details.json')} is not a lock's details`);
    return { details: withHeartbeat(details, beat), hostNow };
  }
}

/** The heartbeat line (`<time> <run>`) counts only for the run that holds the lock now. */
function withHeartbeat({ heartbeat: _, ...details }: LockDetails, line: string): LockDetails {
  const [at = '', of] = line.trim().split(' ');
  const when = new Date(at);
  return of === details.run && !Number.isNaN(when.getTime()) ? { ...details, heartbeat: when.toISOString() } : details;
}

/** How often a running process beats its heartbeat; `status` calls a run gone after a few missed beats. */
export const HEARTBEAT_MS = 3_000;

export interface KeepAliveOptions {
  /** Heartbeat interval (default HEARTBEAT_MS). */
  heartbeatMs?: number;
}

/**
 * Renew the lease of run's lock every third of it, and beat its heartbeat, until the returned
 * function is called; both stop by themselves if this process dies. Stopping resolves once a
 * beat or renewal still on its way has landed: the run then releases the lock and closes its
 * connections with nothing of its own still writing into either.
 */
export function keepLeaseAlive(
  lock: ReleaseLock,
  run: string,
  leaseMs: number,
  opts: KeepAliveOptions = {},
): () => Promise<void> {
  // A slow host must not pile up renewals or beats: each skips a tick while the last is on its way.
  const lease = repeat(Math.max(10_000, leaseMs / 3), () => lock.renew(run));
  const heart = repeat(opts.heartbeatMs ?? HEARTBEAT_MS, () => lock.beat(run));
  return async () => {
    await Promise.all([lease.stop(), heart.stop()]);
  };
}

function parseDetails(text: string): LockDetails | null {
  try {
    return JSON.parse(text) as LockDetails;
  } catch {
    return null;
  }
}
