// Which run `baton report` draws: the newest by default, else the one whose id is given or
// begins with what is given. An unknown or ambiguous id is a usage error naming the runs there are.
import { basename, join } from 'node:path';
import { journalDir, listJournals, readJournal, type JournalRecord, type RunsOf } from '../engine/journal.js';
import { UserError } from '../errors.js';
import type { Plan } from '../model/plan.js';
import { loadPlanFile } from '../model/plan-file.js';
import { planFileOf } from '../release/last-run.js';
import { existsSync } from 'node:fs';
import { approvalMessage, verifySigned } from '../release/review-signatures.js';
import type { ApprovalCheck } from './report-data.js';

export interface SelectedRun {
  run: string;
  records: JournalRecord[];
  /** Absent when the run kept no readable plan (the report then has no hosts or approvals). */
  plan?: Plan;
  /** The plan file is there but cannot be read: why. */
  planProblem?: string;
}

/** The run to report on, with its journal records and plan. */
export function selectRun(configDir: RunsOf, wanted?: string): SelectedRun {
  const runs = listJournals(journalDir(configDir))
    .map((f) => basename(f, '.jsonl'))
    .reverse();
  if (runs.length === 0)
    throw new UserError(
      `no runs in ${journalDir(configDir)}`,
      'push or apply a plan first; `baton history` lists past runs',
    );
  const matches =
    wanted === undefined
      ? runs.slice(0, 1)
      : runs.includes(wanted)
        ? [wanted]
        : runs.filter((r) => r.startsWith(wanted));
  const shown = runs.slice(0, 10).join(', ') + (runs.length > 10 ? `, … (${runs.length - 10} more)` : '');
  if (matches.length === 0)
    throw new UserError(
      `no run ${JSON.stringify(wanted)}; runs here, newest first: ${shown}`,
      'see `baton history --all`',
    );
  if (matches.length > 1)
    throw new UserError(
      `${JSON.stringify(wanted)} names ${matches.length} runs: ${matches.slice(0, 10).join(', ')}`,
      'give more of the run id',
    );
  const run = matches[0]!;
  const planFile = planFileOf(configDir, run);
  const loaded = existsSync(planFile) ? loadPlanFile(planFile) : undefined;
  const problem =
    loaded && !('plan' in loaded) ? { planProblem: `${planFile}: ${loaded.problems.slice(0, 3).join('; ')}` } : {};
  return {
    run,
    records: readJournal(join(journalDir(configDir), `${run}.jsonl`)),
    ...(loaded && 'plan' in loaded ? { plan: loaded.plan } : {}),
    ...problem,
  };
}

/** Where a run's report goes unless -o says otherwise: beside baton.yml, in .baton/reports. */
export function defaultReportFile(configDir: string, run: string): string {
  return join(configDir, '.baton', 'reports', `${run}.html`);
}

/**
 * What each approval of the plan verifies as against require.allowedSigners (none checked without it): the report names
 * principals, not written names.
 */
export async function approvalChecks(
  plan: Plan | undefined,
  allowedSigners: string | undefined,
): Promise<ApprovalCheck[] | undefined> {
  if (!plan?.approvals?.length || !allowedSigners) return undefined;
  return Promise.all(
    plan.approvals.map(async (a): Promise<ApprovalCheck> => {
      if (a.hash !== plan.hash) return { problem: `it approves another plan (${a.hash})` };
      const v = await verifySigned(allowedSigners, a, approvalMessage(plan.hash));
      return 'principal' in v ? { principal: v.principal } : v;
    }),
  );
}
