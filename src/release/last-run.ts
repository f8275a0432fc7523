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

/** Every run that has a plan file (readable or not), newest first. */
export function runEntriesNewestFirst(configDir: RunsOf): RunEntry[] {
  return listJournals(journalDir(configDir))
    .reverse()
    .flatMap((journal) => {
      const run = basename(journal, '.jsonl');
      const planFile = planFileOf(configDir, run);
      if (!existsSync(planFile)) return [];
      const state = replay(readJournal(journal));
      const read = readRunPlan(planFile);
      return [{ run, journal, state, ...read }];
    });
}

/** Runs with readable plans, newest first. */
export function runsNewestFirst(configDir: RunsOf): RunRecord[] {
  return runEntriesNewestFirst(configDir).filter((e): e is RunRecord => e.plan !== undefined);
}

function readRunPlan(file: string): { plan: Plan } | { planProblem: string } {
  const loaded = loadPlanFile(file);
  return 'plan' in loaded ? loaded : { planProblem: `${file}: ${loaded.problems.slice(0, 3).join('; ')}` };
}
