// A run's lifecycle, the same for a push, apply, resume, rollback, rehearsal and every DNS phase:
// its journal opened with what it will do (or a note when an interrupted run is continued), the
// lock's lease kept alive while it lasts, and its end journaled with how it ended.
import { Journal, journalDir, newRunId, type JournalEvent } from './journal.js';
import { keepLeaseAlive, type ReleaseLock } from './lock.js';

type RunBegin = Omit<Extract<JournalEvent, { event: 'run-begin' }>, 'event'>;
type Outcome = Extract<JournalEvent, { event: 'run-end' }>['outcome'];

export interface OpenRunOptions {
  /** The run id, when chosen before (a lock was taken under it, or the run being resumed). */
  run?: string;
  /** What the run will do; journaled as run-begin. */
  begin: RunBegin;
  /** Continue an earlier run of the same id: journal this note instead of a second run-begin. */
  resumed?: string;
  /** Lines journaled right after the run begins (an override and its reason, what it runs against). */
  notes?: readonly string[];
  /** The lock whose lease is renewed while the run lasts. */
  lease?: { lock: ReleaseLock; leaseMs: number };
}

export interface OpenRun {
  id: string;
  journal: Journal;
  /** Journal how the run ended and stop renewing the lease (resolves once no beat is still on its way). */
  end(outcome: Outcome, ms: number): Promise<void>;
  /** Stop renewing the lease without an end (the run failed before it could say how it ended). */
  abandon(): Promise<void>;
}

export function openRun(configDir: string, opts: OpenRunOptions): OpenRun {
  const id = opts.run ?? newRunId();
  const journal = new Journal(journalDir(configDir), id);
  if (opts.resumed) journal.append({ event: 'note', message: opts.resumed });
  else journal.append({ event: 'run-begin', ...opts.begin });
  for (const message of opts.notes ?? []) journal.append({ event: 'note', message });
  const stop = opts.lease ? keepLeaseAlive(opts.lease.lock, id, opts.lease.leaseMs) : async () => undefined;
  return {
    id,
    journal,
    end: async (outcome, ms) => {
      const stopped = stop();
      journal.append({ event: 'run-end', outcome, ms });
      await stopped;
    },
    abandon: stop,
  };
}
