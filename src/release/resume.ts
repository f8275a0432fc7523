// Resume: continue a run that was killed (or held) from its journal: the step that began and
// never ended runs again (steps are idempotent), then the rest; a failure undoes everything the
// run did, before and after the interruption.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { observe } from '../engine/observe.js';
import type { RunsOf } from '../engine/journal.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import type { Step } from '../model/plan.js';
import { stepKind } from '../steps/registry.js';
import { releaseArchiveFor } from './planned-artifact.js';
import { carryOut, type ApplyResult } from './carry-out.js';
import { checkPlan } from './rederive.js';
import { newestRunEntry, type RunRecord } from './last-run.js';

/** The run resume would continue: the one named, else the newest that is interrupted or held. */
export function findResumable(configDir: RunsOf, opts: { run?: string; heldOnly?: boolean } = {}): RunRecord {
  const pick = newestRunEntry(configDir, (r) =>
    opts.run
      ? r.run === opts.run
      : opts.heldOnly
        ? r.state.outcome === 'held'
        : r.state.outcome === undefined || r.state.outcome === 'held',
  );
  if (!pick) {
    throw new UserError(
      opts.run
        ? `no run ${opts.run} with a plan in the journal`
        : opts.heldOnly
          ? 'no held push to continue'
          : 'nothing to resume: no interrupted or held run in the journal',
      'see `baton history`',
    );
  }
  if (pick.state.outcome !== undefined && pick.state.outcome !== 'held')
    throw new UserError(`run ${pick.run} already ended (${pick.state.outcome}); nothing to resume`);
  if (!pick.plan) {
    throw new UserError(
      `run ${pick.run} did not end, but the plan it ran cannot be read (${pick.planProblem}): ` +
        'resume cannot tell which steps are left',
      '`baton rollback` returns every host to its previous release and the pool to whole (it reads the ' +
        'hosts, not that plan)',
      'unchanged',
    );
  }
  return pick as RunRecord;
}

/** The steps still to run, and those already done, from the replayed journal. */
export function remainingSteps(r: RunRecord): { alreadyDone: Step[]; remaining: Step[]; reversal: boolean } {
  const { plan, state } = r;
  if (state.reversing) {
    // The undo steps the reversal set out to run, in its order, less those it finished; the interrupted one runs again.
    const byId = new Map(plan.forward.flatMap((s) => s.undo).map((u) => [u.id, u]));
    const remaining = state.reversalSteps
      .filter((id) => !state.reversed.includes(id))
      .flatMap((id) => byId.get(id) ?? []);
    return { alreadyDone: [], remaining, reversal: true };
  }
  const done = new Set(state.completed);
  return {
    alreadyDone: plan.forward.filter((s) => done.has(s.id)),
    remaining: plan.forward.filter((s) => !done.has(s.id)),
    reversal: false,
  };
}

export async function resumeRun(
  session: Session,
  r: RunRecord,
  reporter: Reporter,
): Promise<ApplyResult & { wasReversing: boolean }> {
  const { config } = session;
  // The journal's copy of the plan is a file on disk like any other: it runs only if baton.yml makes it.
  checkPlan(r.plan, config);
  const { alreadyDone, remaining, reversal } = remainingSteps(r);
  const work = mkdtempSync(join(tmpdir(), 'baton-'));
  try {
    const stages = remaining.some((s) => stepKind(s.kind).needsArtifact);
    const [observation, artifact] = await Promise.all([
      observe(config, session.balancer, session.transports, session.addressOf),
      stages
        ? releaseArchiveFor(config, r.plan, join(work, `${r.plan.release.dir}.tar.gz`), session.transports)
        : undefined,
    ]);
    const result = await carryOut(session, r.plan, {
      command: 'resume',
      reporter,
      observation,
      ...(artifact ? { artifact } : {}),
      resume: { run: r.run, alreadyDone: reversal ? [] : alreadyDone, remaining },
      // The killed process held the lock under this run id.
      takeOverLockOf: r.run,
    });
    // Finishing a reversal makes a reversed push; failing to finish one leaves production needing a person.
    const outcome = !reversal ? result.outcome : result.outcome === 'succeeded' ? 'reversed' : 'needs-attention';
    return { ...result, outcome, wasReversing: reversal };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
