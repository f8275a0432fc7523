// Finding runs in the journal folder: the newest push that left its release somewhere, or the
// newest run that was interrupted or held, together with its plan and replayed state. A plan
// file that cannot be read is reported as such, never taken for "no run here".
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { journalDir, listJournals, readJournal, type RunsOf } from '../engine/journal.js';
import { replay, type RunState } from '../engine/run-state.js';
import type { Plan } from '../model/plan.js';
import { loadPlanFile } from '../model/plan-file.js';

export interface RunRecord {
  run: string;
  journal: string;
  plan: Plan;
  state: RunState;
}

/** A run from the journal folder; `plan` is missing when its plan file is (unreadable: `planProblem` says why). */
export type RunEntry = Omit<RunRecord, 'plan'> & { plan?: Plan; planProblem?: string };

/** Where a run's plan is kept beside its journal. */
export function planFileOf(configDir: RunsOf, run: string): string {
  return join(journalDir(configDir), `${run}.plan.json`);
}

/**
 * Every run that has a plan file (readable or not), newest first, each journal and plan read only when the one
 * before it did not do: a rollback or a resume looks for the newest few runs, and the journal keeps every run.
 */
export function* runEntriesNewestFirst(configDir: RunsOf): Generator<RunEntry, void, undefined> {
  for (const journal of listJournals(journalDir(configDir)).reverse()) {
    const run = basename(journal, '.jsonl');
    const planFile = planFileOf(configDir, run);
    if (!existsSync(planFile)) continue;
    yield { run, journal, state: replay(readJournal(journal)), ...readRunPlan(planFile) };
  }
}

/** The newest run with a plan file that `matches`, reading no older run's journal or plan. */
export function newestRunEntry(configDir: RunsOf, matches: (r: RunEntry) => boolean): RunEntry | undefined {
  for (const r of runEntriesNewestFirst(configDir)) if (matches(r)) return r;
  return undefined;
}

/** Runs with readable plans, newest first. */
export function runsNewestFirst(configDir: RunsOf): RunRecord[] {
  return [...runEntriesNewestFirst(configDir)].filter((e): e is RunRecord => e.plan !== undefined);
}

function readRunPlan(file: string): { plan: Plan } | { planProblem: string } {
  const loaded = loadPlanFile(file);
  return 'plan' in loaded ? loaded : { planProblem: `${file}: ${loaded.problems.slice(0, 3).join('; ')}` };
}
