// A run's lifecycle, the same for a push, apply, resume, rollback, rehearsal and every DNS phase:
// its journal opened with what it will do (or a note when an interrupted run is continued), the
// lock's lease kept alive while it lasts, the balancer's traffic sampled into it, and its end
// journaled with how it ended.
import type { Balancer } from '../balancers/types.js';
import type { ClusterId } from '../config/config.js';
import { Journal, journalDir, newRunId, type JournalEvent, type RunsOf } from './journal.js';
import { keepLeaseAlive, type ReleaseLock } from './lock.js';
import { appendToRun, type RunRecordMirror } from './run-record.js';
import type { Config } from '../config/config.js';
import type { Transports } from '../transport/types.js';
import { startSampling } from './sampler.js';
import type { TrafficSample } from './traffic.js';

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
  /** Mirror the journal into the run record on production; `notice` hears when a copy is left behind. */
  record?: { mirror: RunRecordMirror; notice: (line: string) => void };
  /** Sample the balancer while the run lasts: each sample is journaled and shown to the reporter. */
  sample?: {
    balancer: Balancer;
    clusterOf: (memberName: string) => ClusterId | undefined;
    /**
     * Any reporter: its optional `traffic(sample)`, when it has one, gets every sample. Typed
     * loosely so a Reporter without that method (yet) is accepted as it is.
     */
    reporter?: object;
    everyMs?: number;
  };
}

export interface OpenRun {
  id: string;
  journal: Journal;
  /**
   * Before each forward step: rejects when the run record cannot be written (the run stops there); `changesProduction`
   * waits for it to catch up.
   */
  beforeStep(changesProduction: boolean): Promise<void>;
  /**
   * Stop sampling, journal how the run ended and stop renewing the lease (resolves once no beat or sample is still on
   * its way).
   */
  end(outcome: Outcome, ms: number): Promise<void>;
  /** Stop sampling and renewing the lease without an end (the run failed before it could say how it ended). */
  abandon(): Promise<void>;
}

// The environment a run belongs to goes into its first journal line, for history and report.
function environmentOf(of: RunsOf): { environment?: string } {
  return typeof of !== 'string' && of.environment !== undefined ? { environment: of.environment } : {};
}

export function openRun(configDir: RunsOf, opts: OpenRunOptions): OpenRun {
  const id = opts.run ?? newRunId();
  const journal = new Journal(journalDir(configDir), id);
  const record = opts.record;
  record?.mirror.attach(journal);
  if (opts.resumed) journal.append({ event: 'note', message: opts.resumed });
  else journal.append({ event: 'run-begin', ...opts.begin, ...environmentOf(configDir) });
  for (const message of opts.notes ?? []) journal.append({ event: 'note', message });
  const stop = opts.lease ? keepLeaseAlive(opts.lease.lock, id, opts.lease.leaseMs) : async () => undefined;
  const stopSampling = opts.sample ? sampleInto(journal, opts.sample) : async () => undefined;
  return {
    id,
    journal,
    beforeStep: async (changesProduction) => {
      if (!record) return;
      for (const message of record.mirror.peerTrouble()) journal.append({ event: 'note', message });
      await record.mirror.gate(changesProduction);
    },
    end: async (outcome, ms) => {
      const stopped = stop();
      // A sample still on its way lands before the end: nothing follows run-end.
      await stopSampling();
      journal.append({ event: 'run-end', outcome, ms });
      await stopped;
      for (const line of (await record?.mirror.close()) ?? []) record?.notice(line);
    },
    abandon: async () => {
      await Promise.all([stop(), stopSampling()]);
      for (const line of (await record?.mirror.close()) ?? []) record?.notice(line);
    },
  };
}

/**
 * End a run no process has open any more (killed or held, then undone by another run): a note
 * saying what ended it, then its run-end, in this machine's journal and the run record. With
 * openRun's `end`, the only places a run-end is written.
 */
export function closeRunOf(
  config: Config,
  transports: Transports,
  run: string,
  note: string,
  outcome: Outcome,
): Promise<string[]> {
  return appendToRun(config, transports, run, [
    { event: 'note', message: note },
    { event: 'run-end', outcome, ms: 0 },
  ]);
}

/**
 * Journal every sample (its time is the record's `ts`) and hand it to the reporter; a failure to sample is noted once.
 */
function sampleInto(journal: Journal, opts: NonNullable<OpenRunOptions['sample']>): () => Promise<void> {
  const traffic = trafficOf(opts.reporter);
  return startSampling(opts.balancer, {
    clusterOf: opts.clusterOf,
    ...(opts.everyMs !== undefined ? { everyMs: opts.everyMs } : {}),
    onSample: (sample) => {
      const { at: _, ...seen } = sample;
      journal.append({ event: 'sample', ...seen });
      traffic?.(sample);
    },
    onFirstError: (err) =>
      journal.append({
        event: 'note',
        message:
          'sampling the balancer failed (the run goes on unsampled while ' +
          `it fails): ${err instanceof Error ? err.message : String(err)}`,
      }),
  });
}

/** The reporter's `traffic` method, bound, when it has one. */
function trafficOf(reporter: object | undefined): ((s: TrafficSample) => void) | undefined {
  const method = (reporter as { traffic?: unknown } | undefined)?.traffic;
  return typeof method === 'function' ? (s) => void method.call(reporter, s) : undefined;
}
