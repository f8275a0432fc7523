// The one runner. Every run — push, apply, resume, rollback, contract, restore, rehearsal and each
// DNS phase — goes through runPlan: it takes the lock when the run must hold it from its first line,
// opens the journal (run-begin, or a note when an interrupted run is continued), keeps the lease
// alive, mirrors the run record and samples the balancer, makes the step runner under the run's id,
// runs the steps forward (reversing on failure or a signal), rehearses or only reverses when the
// mode says so, journals how the run ended (and of the interrupted run it undid), and returns the Outcome. Callers
// build the context (what steps need comes in as a function: the engine stays below the steps) and keep their own
// bookkeeping (a release marked bad, a rehearsal recorded in its plan).
import type { Config } from '../config/config.js';
import { BatonError, type RunEnd } from '../errors.js';
import type { AnyStep } from '../model/steps.js';
import { stepIs, stepTraits } from '../model/step-kinds.js';
import { execute, reverse, type ExecutionResult, type StepRunner } from './executor.js';
import type { Interrupts } from './interrupts.js';
import { newRunId, type RunsOf } from './journal.js';
import type { LockDetails, ReleaseLock } from './lock.js';
import { teeReporter, type Reporter } from './reporter.js';
import type { RunHooks } from './run-hooks.js';
import type { Transports } from '../transport/types.js';
import { closeRunOf, openRun, type OpenRun, type OpenRunOptions } from './run.js';

/** Who holds the lock for the run (the run's id is added). */
export type LockOwner = Omit<LockDetails, 'since' | 'expires' | 'run'>;

export interface RunContext {
  /** Where the journal is kept. */
  runsOf: RunsOf;
  /** The run id, when chosen before (a lock was taken under it, the plan written beside its journal). */
  run?: string;
  reporter: Reporter;
  lock: {
    lock: ReleaseLock;
    /** Renewed while the run lasts. */
    leaseMs: number;
    /**
     * Who the run holds the lock as: a resumed run takes over the lock of the run it continues when that run had taken
     * it.
     */
    owner?: LockOwner;
    /**
     * Take the lock before the run's first line and give it back once it ended (a DNS phase): held by someone else, no
     * run begins.
     */
    holdThroughout?: boolean;
  };
  /** Mirror the journal into the run record on production. */
  record?: OpenRunOptions['record'];
  /** Sample the balancer while the run lasts. */
  sample?: OpenRunOptions['sample'];
  /** Lines journaled right after the run begins. */
  notes?: readonly string[];
  /** Hooks and notifications (baton.yml's hooks: and notify:), listening to the run once it is open. */
  hooks?: RunHooks | undefined;
  /** The step runner, made once the run's id is known (steps take the lock under it). */
  stepRunner(run: string): StepRunner;
  /** Where stop signals come from (the process's, unless a test brings its own). */
  interrupts?: Interrupts;
  /**
   * An earlier run no process has open any more that this run ends when it succeeds (an
   * interrupted push a rollback undid): its journal and run record get the note and a run-end.
   */
  closes?: { run: string; note: string; config: Config; transports: Transports };
}

/** What the run-begin line says of the plan, and the steps it runs. */
export interface RunnablePlan {
  command: string;
  hash: string;
  tag: string;
  by: string;
  /** The forward steps (in reverse mode: the undo steps, newest first). */
  steps: readonly AnyStep[];
}

export interface RehearseMode {
  /** The undos of the forward steps, newest first: run once forward succeeded. */
  reverse: readonly AnyStep[];
  reason: string;
  /** Problems found once forward is done (where it should have left production); the reversal runs anyway. */
  afterForward(): Promise<string[]>;
  /** Problems left once the reversal is done (production not back where it began): the run needs attention. */
  afterReverse(): Promise<string[]>;
}

export type RunMode =
  | { forward: { holdAfter?: string } }
  /** Continue an interrupted run of the same id: a note instead of a second run-begin. */
  | { resume: { alreadyDone: readonly AnyStep[]; remaining: readonly AnyStep[] } }
  /** Only undo: the plan's steps are undo steps (a DNS rollback). */
  | { reverse: { reason: string } }
  /** Forward, then the way back, each checked: a rehearsal. */
  | { rehearse: RehearseMode };

/** How a run ended: what ran, whether production changed, and the rest of what the executor saw. */
export interface Outcome extends ExecutionResult {
  run: string;
  /** The journal's file. */
  journal: string;
  /** A rehearsal's findings, forward and back (empty: it passed). */
  problems?: string[];
}

/** Production changed and was put back: the run reversed what it changed. */
export function putBack(o: RunEnd): boolean {
  return o.productionChanged && o.outcome === 'reversed';
}

export async function runPlan(ctx: RunContext, plan: RunnablePlan, mode: RunMode): Promise<Outcome> {
  const run = ctx.run ?? newRunId();
  const { lock, leaseMs, owner, holdThroughout } = ctx.lock;
  if (holdThroughout) await lock.acquire({ ...(owner ?? { by: plan.by, reason: plan.command }), run });
  try {
    const open = openRun(ctx.runsOf, {
      run,
      begin: { command: plan.command, plan: plan.hash, tag: plan.tag, by: plan.by, steps: plan.steps.map((s) => s.id) },
      ...('resume' in mode
        ? { resumed: `resumed by ${plan.by}: ${mode.resume.remaining.map((s) => s.id).join(', ')}` }
        : {}),
      ...(ctx.notes ? { notes: ctx.notes } : {}),
      lease: { lock, leaseMs },
      ...(ctx.record ? { record: ctx.record } : {}),
      ...(ctx.sample ? { sample: ctx.sample } : {}),
    });
    try {
      // A resumed run holds the lock of the run it continues (same run id): take it over.
      if ('resume' in mode && owner && mode.resume.alreadyDone.some((s) => stepIs(s, 'takesLock')))
        await lock.acquire({ ...owner, run });
      const hooks = ctx.hooks?.({ id: run, journal: open.journal, notice: (line) => ctx.reporter.notice(line) });
      try {
        const exec = {
          run: ctx.stepRunner(run),
          journal: open.journal,
          reporter: hooks ? teeReporter(ctx.reporter, hooks.events) : ctx.reporter,
          ...(ctx.interrupts ? { interrupts: ctx.interrupts } : {}),
          ...(hooks ? { beforeStep: (step: AnyStep) => hooks.beforeStep(step) } : {}),
        };
        const result =
          'rehearse' in mode
            ? await rehearseWith(open, plan.steps, mode.rehearse, exec)
            : await carryOutWith(open, plan.steps, mode, exec);
        // The end hooks and the last notifications are journaled before the run's end: nothing follows it.
        await hooks?.ending(result);
        await open.end(result.outcome, result.forwardMs + (result.reversalMs ?? 0));
        const { closes } = ctx;
        if (closes && result.outcome === 'succeeded')
          await closeRunOf(closes.config, closes.transports, closes.run, closes.note, 'reversed');
        return { ...result, run, journal: open.journal.file };
      } finally {
        await hooks?.close();
      }
    } finally {
      await open.abandon();
    }
  } finally {
    if (holdThroughout) await lock.release(run).catch(() => undefined);
  }
}

type Exec = Pick<Parameters<typeof execute>[0], 'run' | 'journal' | 'reporter' | 'interrupts' | 'beforeStep'>;

async function carryOutWith(
  open: OpenRun,
  steps: readonly AnyStep[],
  mode: Exclude<RunMode, { rehearse: unknown }>,
  exec: Exec,
): Promise<ExecutionResult> {
  // Before each forward step the hooks have their say, then the run record catches up (and a step that changes
  // production waits for it).
  const beforeStep = async (step: AnyStep) => {
    await exec.beforeStep?.(step);
    await open.beforeStep(stepTraits(step.kind).changesProduction);
  };
  if ('forward' in mode)
    return execute({
      ...exec,
      steps,
      beforeStep,
      ...(mode.forward.holdAfter ? { holdAfter: mode.forward.holdAfter } : {}),
    });
  if ('resume' in mode)
    return execute({ ...exec, steps: mode.resume.remaining, beforeStep, alreadyDone: mode.resume.alreadyDone });
  const r = await reverse(steps, mode.reverse.reason, exec);
  return {
    outcome: r.error ? 'needs-attention' : 'reversed',
    completed: [],
    forwardMs: 0,
    reversalMs: r.ms,
    productionChanged: r.productionChanged,
    ...(r.error && { error: r.error, failedStep: 'rollback' }),
  };
}

/** Forward, the check of where it left production, the way back and the check that production is where it began. */
async function rehearseWith(
  open: OpenRun,
  forward: readonly AnyStep[],
  mode: RehearseMode,
  exec: Exec,
): Promise<ExecutionResult & { problems: string[] }> {
  const problems: string[] = [];
  let reversalMs: number;
  let reversalError: Error | undefined;
  const fwd = await execute({ ...exec, steps: forward });
  if (fwd.outcome === 'succeeded') {
    problems.push(...(await mode.afterForward()));
    const back = await reverse(mode.reverse, mode.reason, exec);
    reversalMs = back.ms;
    reversalError = back.error;
  } else {
    // Nothing was done (the lock was held, say): no rehearsal took place, and the run has no end to journal.
    if (fwd.completed.length === 0 && fwd.error instanceof BatonError && fwd.outcome === 'reversed') throw fwd.error;
    problems.push(`forward failed at ${fwd.failedStep}: ${fwd.error?.message}`);
    reversalMs = fwd.reversalMs ?? 0;
    reversalError = fwd.reversalError;
  }
  // The lease and the sampling end with the way back, before production is looked at again.
  await open.abandon();
  if (reversalError) problems.push(`reverse failed: ${reversalError.message}`);
  const leftOver = await mode.afterReverse();
  problems.push(...leftOver);
  const needsAttention = Boolean(reversalError) || leftOver.length > 0;
  const { reversalError: _, ...rest } = fwd;
  return {
    ...rest,
    outcome: problems.length === 0 ? 'succeeded' : needsAttention ? 'needs-attention' : 'reversed',
    reversalMs,
    ...(reversalError ? { reversalError } : {}),
    problems,
  };
}
