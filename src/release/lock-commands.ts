// `baton lock` / `baton unlock`: hold the release lock by hand (a freeze, an incident) with a
// reason and a lease, so a forgotten lock expires by itself; release only your own unless forced.
import { appendToRun } from '../engine/run-record.js';
import { type LockDetails, ReleaseLock, UnreadableLockError } from '../engine/lock.js';
import { newRunId } from '../engine/journal.js';
import type { Session } from '../engine/session.js';
import { BatonError, ExitCode, LockHeldError } from '../errors.js';

/** Someone else's lock, which unlock leaves alone without --force. */
export class ForeignLockError extends BatonError {
  readonly kind = 'lock-held';
  constructor(message: string, holder: LockDetails) {
    super(
      message,
      { refused: ExitCode.LOCK_HELD },
      'if you know that release is over, `baton unlock --force --reason TEXT`',
    );
    this.data = { holder: { ...holder } };
  }
}

export interface HoldOptions {
  by: string;
  reason: string;
  /** Lease in ms (default: baton.yml lock.lease). */
  leaseMs?: number;
  now?: Date;
}

/** Take the lock by hand, or extend and re-word a lock you already hold by hand. */
export async function holdLock(
  session: Session,
  opts: HoldOptions,
  lockWithLease: (leaseMs: number) => Pick<ReleaseLock, 'acquire' | 'read'> = defaultLock(session),
): Promise<LockDetails> {
  const lock = lockWithLease(opts.leaseMs ?? session.config.lock.lease);
  const current = await lock.read();
  // The same run id takes over its own lock: that is how a hand-held lock is renewed.
  const mine = current && current.by === opts.by && current.run?.startsWith('manual-') ? current.run : undefined;
  return lock.acquire({ by: opts.by, reason: opts.reason, run: mine ?? `manual-${newRunId(opts.now)}` }, opts.now);
}

function defaultLock(session: Session) {
  const { config } = session;
  return (leaseMs: number) =>
    new ReleaseLock(session.transports.get(config.balancer.host), config.lock.path, leaseMs, config.environment);
}

export interface ReleaseResult {
  released: boolean;
  /** Who held it (null: nobody did). */
  holder: LockDetails | null;
  /** The holder's lease had already run out. */
  expired: boolean;
  /** Someone else's live lock, removed with --force. */
  forced: boolean;
  /** Why it was forced (`unlock --force --reason`). */
  reason?: string;
  /** Asked before forcing, the answer was no: the lock is as it was. */
  cancelled?: boolean;
  /** Lines about the run record (a copy that could not be told). */
  notices?: string[];
}

export interface ReleaseOptions {
  by: string;
  force?: boolean;
  /** Why someone else's lock is taken: reported with whose it was. */
  reason?: string;
  /** Asked before someone else's live lock (or one that cannot be read: null) is removed; false leaves it. */
  confirm?: (holder: LockDetails | null) => Promise<boolean>;
  now?: Date;
}

/** Release the lock: yours, an expired one, or with `force` anyone's (naming whose it was, and why). */
export async function releaseLock(session: Session, opts: ReleaseOptions): Promise<ReleaseResult> {
  const why = opts.reason !== undefined ? { reason: opts.reason } : {};
  const holder = await session.lock.read().catch((e: unknown) => {
    if (!(e instanceof UnreadableLockError)) throw e;
    return 'unreadable' as const;
  });
  if (holder === 'unreadable') {
    // Nobody can be named, so nobody's own unlock may remove it: only --force, said plainly.
    if (!opts.force) {
      throw new LockHeldError(
        `the release lock on ${session.config.balancer.host} (${session.config.lock.path}) is there, ` +
          'but its details cannot be read; if no run is using it, ' +
          `\`baton unlock --force --reason TEXT\` removes it`,
      );
    }
    if (opts.confirm && !(await opts.confirm(null)))
      return { released: false, holder: null, expired: false, forced: false, cancelled: true };
    await session.lock.release(undefined, true);
    return { released: true, holder: null, expired: false, forced: true, ...why };
  }
  if (!holder) return { released: false, holder: null, expired: false, forced: false };
  const expired = Date.parse(holder.expires) <= (opts.now ?? new Date()).getTime();
  const foreign = holder.by !== opts.by && !expired;
  if (foreign && !opts.force) {
    throw new ForeignLockError(
      `the release lock on ${session.config.balancer.host} is held by ${holder.by} ` +
        `since ${holder.since}${holder.tag ? ` (pushing ${holder.tag})` : ''}: ${holder.reason}` +
        `; it expires ${holder.expires}`,
      holder,
    );
  }
  if (foreign && opts.confirm && !(await opts.confirm(holder)))
    return { released: false, holder, expired, forced: false, cancelled: true };
  await session.lock.release(undefined, true);
  // Taking a run's lock is part of that run's story: said in its record, for whoever resumes or reads it.
  const told =
    foreign && holder.run
      ? await appendToRun(session.config, session.transports, holder.run, [
          {
            event: 'note',
            message: `its release lock was taken by ${opts.by} (unlock --force): ${opts.reason ?? 'no reason given'}`,
          },
        ]).catch((e: unknown) => [
          `the run record of ${holder.run} could not be told: ${e instanceof Error ? e.message : String(e)}`,
        ])
      : [];
  return {
    released: true,
    holder,
    expired,
    forced: foreign,
    ...(foreign ? why : {}),
    ...(told.length ? { notices: told } : {}),
  };
}
