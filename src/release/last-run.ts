// Finding runs in the journal folder: the newest push that left its release somewhere, or the
// newest run that was interrupted or held, together with its plan and replayed state.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { journalDir, listJournals, readJournal } from '../engine/journal.js';
import { replay, type RunState } from '../engine/run-state.js';
import type { Plan } from '../model/plan.js';
import { planFileOf } from './carry-out.js';

export interface RunRecord {
  run: string;
  journal: string;
  plan: Plan;
  state: RunState;
}

/** Runs with their plans, newest first. */
export function runsNewestFirst(configDir: string): RunRecord[] {
  return listJournals(journalDir(configDir))
    .reverse()
    .flatMap((journal) => {
      const run = basename(journal, '.jsonl');
      const planFile = planFileOf(configDir, run);
      if (!existsSync(planFile)) return [];
      return [{ run, journal, plan: JSON.parse(readFileSync(planFile, 'utf8')) as Plan, state: replay(readJournal(journal)) }];
    });
}
