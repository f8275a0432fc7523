// Carrying out a plan, for push, apply, rollback and resume alike: the journal (and the plan
// beside it, so a killed run can be resumed or reversed), the lock's lease kept alive, the
// executor, and release bookkeeping (a reversed release is marked bad).
import { execute, type ExecutionResult } from '../engine/executor.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { journalDir, newRunId } from '../engine/journal.js';
import { openRun } from '../engine/run.js';
import { mirrorRun } from '../engine/run-record.js';
import { clusterOfMembers } from '../engine/sampler.js';
import type { Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import { planKindOf, type Plan, type PlanKind, type Step } from '../model/plan.js';
import { stepIs } from '../model/step-kinds.js';
import { planProblems, writePlanFile } from '../model/plan-file.js';
import { BugError } from '../errors.js';
import { stepRunner } from '../steps/index.js';
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
  gate?: (step: Step) => Promise<void>;
  /** A run whose lock this one may take over (an interrupted run being rolled back). */
  takeOverLockOf?: string;
  /** Continue an earlier run of this plan: its id, and the steps it completed. */
  resume?: { run: string; alreadyDone: Step[]; remaining: Step[] };
}

export interface ApplyResult extends ExecutionResult {
  /** What the plan did: a push of a new release, a rollback to an earlier one, or a schema contract. */
  kind: PlanKind;
  run: string;
  journal: string;
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
  const open = openRun(config, {
    run,
    begin: { command: opts.command, plan: plan.hash, tag: plan.release.tag, by, steps: plan.forward.map((s) => s.id) },
    ...(opts.resume ? { resumed: `resumed by ${by}: ${opts.resume.remaining.map((s) => s.id).join(', ')}` } : {}),
    ...(opts.notes ? { notes: opts.notes } : {}),
    lease: { lock: session.lock, leaseMs: config.lock.lease },
    record: { mirror, notice: (line) => opts.reporter.notice(line) },
    sample: { balancer: session.balancer, clusterOf: clusterOfMembers(opts.observation.membership), reporter: opts.reporter },
  });
  const { journal } = open;
  try {
    const lockOwner = { by, reason: `${planKindOf(plan)} ${plan.release.tag}`, tag: plan.release.tag, run };
    // A resumed run holds the lock of the run it continues (same run id): take it over.
    if (opts.resume && opts.resume.alreadyDone.some((s) => stepIs(s, 'takesLock'))) await session.lock.acquire(lockOwner);
    const endpoints = Object.fromEntries(
      [...opts.observation.membership.a, ...opts.observation.membership.b].map((m) => [m.host, { address: m.address, ...(m.port !== undefined ? { port: m.port } : {}) }]),
    );
    const env = {
      config,
      secrets: session.secrets,
      transports: session.transports,
      balancer: session.balancer,
      lock: session.lock,
      lockOwner,
      release: plan.release,
      artifact: opts.artifact ?? '',
      endpoints,
      ...(opts.takeOverLockOf ? { takeOverLockOf: opts.takeOverLockOf } : {}),
      ...(opts.preLocked ? { preLocked: true } : {}),
    };
    const runStep = stepRunner(env, plan);
    const gate = opts.gate;
    const steps = opts.resume?.remaining ?? plan.forward;
    const result = await execute({
      steps,
      run: gate ? async (step, progress, signal) => (await gate(step), runStep(step, progress, signal)) : runStep,
      journal,
      reporter: opts.reporter,
      beforeStep: (step) => open.beforeStep(stepKind(step.kind).changesProduction),
      ...(opts.resume ? { alreadyDone: opts.resume.alreadyDone } : {}),
      ...(opts.hold ? { holdAfter: lastStepOfFirstCluster(plan) } : {}),
    });
    await open.end(result.outcome, result.forwardMs + (result.reversalMs ?? 0));
    await markBad(session, plan, result, opts.markBadOnSuccess);
    await opts.reporter.finish();
    return { ...result, kind: planKindOf(plan), run, journal: journal.file, tag: plan.release.tag, commit: plan.release.commit, release: plan.release.dir };
  } finally {
    await open.abandon();
  }
}

/** The first cluster is back in the pool (and watched, when configured) once this step is done. */
function lastStepOfFirstCluster(plan: Plan): string | undefined {
  const first = plan.forward.find((s) => stepKind(s.kind).returnsToPool)?.cluster;
  // A push where one cluster already served the release has no other to hold back on the old one: it runs to its end.
  if (!plan.forward.some((s) => s.cluster !== undefined && s.cluster !== first)) return undefined;
  return plan.forward.filter((s) => s.cluster === first && (stepKind(s.kind).returnsToPool || stepKind(s.kind).followsReturn)).at(-1)?.id;
}

async function markBad(session: Session, plan: Plan, result: ExecutionResult, onSuccess?: string): Promise<void> {
  const bad = new BadReleases(session.transports.get(session.config.balancer.host), session.config);
  // A push stopped by a signal says nothing about its release: only one that failed marks it bad.
  // A contract that fails says nothing about the release it was for either.
  const failedOnItsOwn = planKindOf(plan) === 'push' && result.outcome !== 'held' && !result.interruptedBy;
  const which = result.outcome === 'succeeded' ? onSuccess : failedOnItsOwn ? plan.release.dir : undefined;
  if (which) await bad.mark(which).catch(() => undefined); // bookkeeping must not turn a result into an error
}
