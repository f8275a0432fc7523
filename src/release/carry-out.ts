// Carrying out a plan, for push, apply, rollback, resume, contract and restore alike: the plan
// written beside the journal (so a killed run can be resumed or reversed) and mirrored into the
// run record, the run's context for the runner, and release bookkeeping (a reversed release is marked bad).
import type { ExecutionResult, StepRunner } from '../engine/executor.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { journalDir, newRunId } from '../engine/journal.js';
import { runPlan, type Outcome } from '../engine/run-plan.js';
import { runHooksFor } from '../engine/run-hooks.js';
import { mirrorRun } from '../engine/run-record.js';
import { clusterOfMembers } from '../engine/sampler.js';
import type { Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import { planKindOf, type Plan, type PlanKind, type Step } from '../model/plan.js';
import { planProblems, writePlanFile } from '../model/plan-file.js';
import type { AnyStep } from '../model/steps.js';
import { BugError } from '../errors.js';
import { sessionStepRunner } from '../steps/index.js';
import { stepKind } from '../steps/registry.js';
import { BadReleases } from './bad-releases.js';
import { actor } from './actor.js';
import { planFileOf } from './last-run.js';

export { planFileOf };

export interface CarryOutOptions {
  command: 'push' | 'apply' | 'rollback' | 'resume' | 'contract' | 'restore';
  reporter: Reporter;
  observation: Observation;
  /** The release archive, when the plan stages one. */
  artifact?: string;
  by?: string;
  /** Stop once the first cluster is back in the pool (`push --hold`). */
  hold?: boolean;
  /** Lines recorded in the journal right after the run begins (e.g. an override and its reason). */
  notes?: string[];
  /** Release to mark bad when the plan succeeds (what a rollback left). */
  markBadOnSuccess?: string;
  /** The run id, when chosen before (the lock was taken under it already). */
  run?: string;
  /** The lock is already held by this run: the lock step only records it. */
  preLocked?: boolean;
  /** Awaited before each step runs; a rejection fails that step (and so reverses what ran). */
  gate?: (step: AnyStep) => Promise<void>;
  /** A run whose lock this one may take over (an interrupted run being rolled back). */
  takeOverLockOf?: string;
  /** An interrupted run this one ends when it succeeds, with this note (a rollback undid it). */
  closes?: { run: string; note: string };
  /** Continue an earlier run of this plan: its id, and the steps it completed. */
  resume?: { run: string; alreadyDone: Step[]; remaining: Step[] };
}

export interface ApplyResult extends Outcome {
  /** What the plan did: a push of a new release, a rollback to an earlier one, or a schema contract. */
  kind: PlanKind;
  tag: string;
  commit: string;
  release: string;
}

export async function carryOut(session: Session, plan: Plan, opts: CarryOutOptions): Promise<ApplyResult> {
  const { config } = session;
  // Every step is of a known kind with what that kind needs, before anything runs.
  const problems = planProblems(plan);
  if (problems.length) throw new BugError(`the plan to carry out is malformed: ${problems.join('; ')}`);
  const by = opts.by ?? actor();
  const run = opts.resume?.run ?? opts.run ?? newRunId();
  if (!opts.resume) {
    // The plan lands beside the journal before the run's first line: a run is never found without it.
    mkdirSync(journalDir(config), { recursive: true });
    writePlanFile(planFileOf(config, run), plan);
  }
  const mirror = mirrorRun(config, session.transports, run, readFileSync(planFileOf(config, run), 'utf8'));
  const owner = { by, reason: `${planKindOf(plan)} ${plan.release.tag}`, tag: plan.release.tag };
  const holdAfter = opts.hold ? lastStepOfFirstCluster(plan) : undefined;
  const result = await runPlan(
    {
      runsOf: config,
      run,
      reporter: opts.reporter,
      lock: { lock: session.lock, leaseMs: config.lock.lease, owner },
      record: { mirror, notice: (line) => opts.reporter.notice(line) },
      sample: {
        balancer: session.balancer,
        clusterOf: clusterOfMembers(opts.observation.membership),
        reporter: opts.reporter,
      },
      ...(opts.notes ? { notes: opts.notes } : {}),
      hooks: runHooksFor(config, plan, opts.command),
      ...(opts.closes ? { closes: { ...opts.closes, config, transports: session.transports } } : {}),
      stepRunner: (id) => planStepRunner(session, plan, opts, { ...owner, run: id }),
    },
    { command: opts.command, hash: plan.hash, tag: plan.release.tag, by, steps: plan.forward },
    opts.resume ? { resume: opts.resume } : { forward: holdAfter ? { holdAfter } : {} },
  );
  await markBad(session, plan, result, opts.markBadOnSuccess);
  await opts.reporter.finish();
  const { run: id, journal, ...ran } = result;
  return {
    ...ran,
    kind: planKindOf(plan),
    run: id,
    journal,
    tag: plan.release.tag,
    commit: plan.release.commit,
    release: plan.release.dir,
  };
}

/** Runs the plan's steps on the session's hosts as the lock's owner, each after `opts.gate` when there is one. */
function planStepRunner(
  session: Session,
  plan: Plan,
  opts: CarryOutOptions,
  lockOwner: { by: string; reason: string; tag: string; run: string },
): StepRunner {
  const runStep = sessionStepRunner(
    session,
    opts.observation,
    {
      lockOwner,
      release: plan.release,
      artifact: opts.artifact ?? '',
      ...(opts.takeOverLockOf ? { takeOverLockOf: opts.takeOverLockOf } : {}),
      ...(opts.preLocked ? { preLocked: true } : {}),
    },
    plan,
  );
  const gate = opts.gate;
  return gate ? async (step, progress, signal) => (await gate(step), runStep(step, progress, signal)) : runStep;
}

/** The first cluster is back in the pool (and watched, when configured) once this step is done. */
function lastStepOfFirstCluster(plan: Plan): string | undefined {
  const first = plan.forward.find((s) => stepKind(s.kind).returnsToPool)?.cluster;
  // A push where one cluster already served the release has no other to hold back on the old one: it runs to its end.
  if (!plan.forward.some((s) => s.cluster !== undefined && s.cluster !== first)) return undefined;
  return plan.forward
    .filter((s) => s.cluster === first && (stepKind(s.kind).returnsToPool || stepKind(s.kind).followsReturn))
    .at(-1)?.id;
}

async function markBad(session: Session, plan: Plan, result: ExecutionResult, onSuccess?: string): Promise<void> {
  const bad = new BadReleases(session.transports.get(session.config.balancer.host), session.config);
  // A push stopped by a signal says nothing about its release: only one that failed marks it bad.
  // A contract that fails says nothing about the release it was for either.
  const failedOnItsOwn = planKindOf(plan) === 'push' && result.outcome !== 'held' && !result.interruptedBy;
  const which = result.outcome === 'succeeded' ? onSuccess : failedOnItsOwn ? plan.release.dir : undefined;
  if (which) await bad.mark(which).catch(() => undefined); // bookkeeping must not turn a result into an error
}
