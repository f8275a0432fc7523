// Past runs, read from the journals beside baton.yml (the journal is the source of truth for
// what a run did): who ran which tag when, how it ended and how long it took.
import { basename } from 'node:path';
import { journalDir, listJournals, readJournal, type RunsOf } from '../engine/journal.js';
import { replay, type RunState } from '../engine/run-state.js';

export interface RunRecord {
  run: string;
  /** push, apply, rollback, resume, rehearse, contract. */
  command: string;
  tag: string;
  by: string;
  /** The environment it ran in (`-e NAME`); absent: baton.yml alone. */
  environment?: string;
  plan?: string;
  startedAt: string;
  endedAt?: string;
  /** How it ended; `unfinished` when the journal has no end (killed, or still running). */
  outcome: NonNullable<RunState['outcome']> | 'unfinished';
  durationMs?: number;
  failedStep?: string;
  /** A step that began and never ended. */
  pending?: RunState['pending'];
  completed: string[];
  /** Notes the run journaled (an override of the requirements and its reason, say). */
  notes: string[];
  journal: string;
}

/** One run, replayed from its journal file. */
export function readRun(file: string): RunRecord {
  const records = readJournal(file);
  const s = replay(records);
  const lastTs = records.at(-1)?.ts;
  const ended = [...records].reverse().find((r) => r.event === 'run-end');
  const durationMs =
    ended && ended.event === 'run-end'
      ? ended.ms
      : lastTs && s.startedAt
        ? Date.parse(lastTs) - Date.parse(s.startedAt)
        : undefined;
  return {
    run: s.run || basename(file, '.jsonl'),
    command: s.command ?? 'unknown',
    tag: s.tag ?? '',
    by: s.by ?? '',
    ...(s.environment !== undefined ? { environment: s.environment } : {}),
    ...(s.plan ? { plan: s.plan } : {}),
    startedAt: s.startedAt,
    ...(s.endedAt ? { endedAt: s.endedAt } : {}),
    outcome: s.outcome ?? 'unfinished',
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(s.failed ? { failedStep: s.failed.step } : {}),
    ...(s.pending ? { pending: s.pending } : {}),
    completed: s.completed,
    notes: records.flatMap((r) => (r.event === 'note' ? [r.message] : [])),
    journal: file,
  };
}

export interface HistoryOptions {
  /** At most this many, newest first. */
  limit?: number;
  /** Leave out rehearsals (they change nothing that stays). */
  pushesOnly?: boolean;
}

/** Runs recorded for the config in `configDir`, newest first. */
export function listRuns(configDir: RunsOf, opts: HistoryOptions = {}): RunRecord[] {
  const runs = listJournals(journalDir(configDir))
    .map(readRun)
    .filter((r) => !opts.pushesOnly || r.command !== 'rehearse')
    // Run ids sort by the second; the first journal line has the millisecond.
    .sort((x, y) => y.startedAt.localeCompare(x.startedAt) || y.run.localeCompare(x.run));
  return opts.limit !== undefined ? runs.slice(0, opts.limit) : runs;
}
