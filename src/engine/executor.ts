// Runs steps in order, journaling each before the next begins. When a step fails, the undo of
// every step that ran (the failed one too, when its kind may have changed something part-way:
// undos are idempotent) runs newest first. It knows at every moment whether production has been
// changed yet, which is what the exit code and the final sentence are chosen by. Stop signals go
// here while it runs: the first finishes the current step and reverses, the second stops at once.
import { BatonError, exitCodeFor, type RunEnd } from '../errors.js';
import type { AnyStep } from '../model/steps.js';
import { stepTraits } from '../model/step-kinds.js';
import { InterruptedError, processInterrupts, type Interrupts, type StopSignal } from './interrupts.js';
import type { Journal } from './journal.js';
import type { Reporter } from './reporter.js';

/** Runs one step; returns what it changed (journaled). The signal aborts when the run is asked to stop. */
export type StepRunner = (step: AnyStep, progress: (message: string) => void, signal?: AbortSignal) => Promise<unknown>;

export type Outcome = 'succeeded' | 'reversed' | 'needs-attention' | 'held';

export interface ExecutionResult {
  outcome: Outcome;
  /** Forward steps that completed. */
  completed: string[];
  failedStep?: string;
  error?: Error;
  reversalError?: Error;
  forwardMs: number;
  reversalMs?: number;
  /** A step that changes production began (in this process or the one it resumes): "unchanged" is no longer true. */
  productionChanged: boolean;
  /** The stop signal that ended the run early, if one did. */
  interruptedBy?: StopSignal;
}

export interface ExecuteOptions {
  steps: readonly AnyStep[];
  run: StepRunner;
  journal: Journal;
  reporter: Reporter;
  /** Stop (successfully) after this step: `push --hold`. */
  holdAfter?: string;
  /** Steps an earlier, interrupted process of this run completed: a failure now undoes them too. */
  alreadyDone?: readonly AnyStep[];
  /** Where stop signals come from (the process's, unless a test brings its own). */
  interrupts?: Interrupts;
  /** Production was already changed before these steps (a resumed reversal). */
  productionChanged?: boolean;
  /**
   * Awaited before each forward step; a rejection stops the run there (the step is not started) and reverses what ran.
   */
  beforeStep?: (step: AnyStep) => Promise<void>;
}

/** What a run in progress knows: shared by its forward part and its reversal. */
class RunControl {
  readonly abort = new AbortController();
  stopRequested?: StopSignal;
  current?: { step: AnyStep; phase: 'forward' | 'reverse' };
  productionChanged: boolean;
  private leave: (end?: RunEnd) => void;

  constructor(private readonly opts: Omit<ExecuteOptions, 'steps'>) {
    this.productionChanged =
      Boolean(opts.productionChanged) || (opts.alreadyDone ?? []).some((s) => stepTraits(s.kind).changesProduction);
    this.leave = (opts.interrupts ?? processInterrupts).enter({
      first: (signal) => {
        this.stopRequested = signal;
        const during = this.current ? ` during ${this.current.step.id}` : '';
        const then =
          this.current?.phase === 'reverse'
            ? 'the reversal goes on'
            : 'finishing the current step, then reversing what this run changed';
        opts.journal.append({ event: 'note', message: `${signal} received${during}: ${then}` });
        opts.reporter.notice(`${signal} received: ${then} (send it again to stop at once)`);
        this.abort.abort(new InterruptedError(signal));
      },
      second: (signal) => this.stopNow(signal),
      productionChanged: () => this.productionChanged,
    });
  }

  /** The second signal: journal where the run stands; the process exits now, and resume or rollback carries on. */
  private stopNow(signal: StopSignal): number {
    const where = this.current ? ` during ${this.current.step.id} (${this.current.phase})` : '';
    const changed = this.productionChanged;
    this.opts.journal.append({ event: 'note', message: `second ${signal}: stopped at once${where}` });
    this.opts.reporter.notice(
      `stopped at once by a second ${signal}${where}` +
        `; ${changed ? 'production may be part-way' : 'nothing in production changed yet'}: ` +
        `\`baton resume\` finishes the run, \`baton rollback\` reverses it (journal ${this.opts.journal.file})`,
    );
    // Stopped part-way: once it changed production, nothing put it back.
    return exitCodeFor({ outcome: changed ? 'needs-attention' : 'reversed', productionChanged: changed });
  }

  /** Signals are no longer this run's; `end` is how it ended, when it did. */
  close(end?: RunEnd): void {
    this.leave(end);
  }
}

export async function execute(opts: ExecuteOptions): Promise<ExecutionResult> {
  const control = new RunControl(opts);
  let end: ExecutionResult | undefined;
  try {
    end = await executeWith(control, opts);
    return end;
  } finally {
    control.close(end);
  }
}

async function executeWith(control: RunControl, opts: ExecuteOptions): Promise<ExecutionResult> {
  const started = Date.now();
  const done: AnyStep[] = [...(opts.alreadyDone ?? [])];
  const ended = (r: Omit<ExecutionResult, 'completed' | 'productionChanged'>): ExecutionResult => ({
    ...r,
    completed: done.map((s) => s.id),
    productionChanged: control.productionChanged,
    ...(control.stopRequested ? { interruptedBy: control.stopRequested } : {}),
  });
  for (const step of opts.steps) {
    let error: Error | undefined;
    let undoOwn = false;
    if (control.stopRequested) {
      error = new InterruptedError(control.stopRequested);
      opts.journal.append({ event: 'note', message: `${step.id} not started: ${error.message}` });
    } else {
      error = await refusal(opts.beforeStep, step);
      if (error) opts.journal.append({ event: 'note', message: `${step.id} not started: ${error.message}` });
      else {
        error = await runOne(step, 'forward', opts, control);
        undoOwn = Boolean(error) && stepTraits(step.kind).undoWhenFailed;
      }
    }
    if (error) {
      const forwardMs = Date.now() - started;
      // A signal that came while the step ran is why it ended (a wait cut short), whatever it threw.
      if (control.stopRequested && !(error instanceof InterruptedError))
        error = Object.assign(new InterruptedError(control.stopRequested), { cause: error });
      const toUndo = [...(undoOwn ? [step] : []), ...[...done].reverse()].flatMap((s): readonly AnyStep[] => s.undo);
      if (!toUndo.length) return ended({ outcome: 'reversed', failedStep: step.id, error, forwardMs, reversalMs: 0 });
      const reason = control.stopRequested
        ? `${control.stopRequested} received: stopped at ${step.id}`
        : `${step.id} failed: ${error.message}`;
      const reversal = await reverseWith(control, toUndo, reason, opts);
      return ended({
        outcome: reversal.error ? 'needs-attention' : 'reversed',
        failedStep: step.id,
        error,
        ...(reversal.error ? { reversalError: reversal.error } : {}),
        forwardMs,
        reversalMs: reversal.ms,
      });
    }
    done.push(step);
    if (opts.holdAfter === step.id) return ended({ outcome: 'held', forwardMs: Date.now() - started });
  }
  return ended({ outcome: 'succeeded', forwardMs: Date.now() - started });
}

/** Why a step may not start, if it may not. */
async function refusal(beforeStep: ExecuteOptions['beforeStep'], step: AnyStep): Promise<Error | undefined> {
  try {
    await beforeStep?.(step);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * Runs undo steps newest first; stops at the first that fails and changes production (production then needs a person).
 */
export async function reverse(
  undo: readonly AnyStep[],
  reason: string,
  opts: Omit<ExecuteOptions, 'steps'>,
): Promise<{ ms: number; error?: Error; productionChanged: boolean }> {
  const control = new RunControl(opts);
  let end: RunEnd | undefined;
  try {
    const r = { ...(await reverseWith(control, undo, reason, opts)), productionChanged: control.productionChanged };
    end = { outcome: r.error ? 'needs-attention' : 'reversed', productionChanged: r.productionChanged };
    return r;
  } finally {
    control.close(end);
  }
}

async function reverseWith(
  control: RunControl,
  undo: readonly AnyStep[],
  reason: string,
  opts: Omit<ExecuteOptions, 'steps'>,
): Promise<{ ms: number; error?: Error }> {
  const started = Date.now();
  opts.journal.append({ event: 'reversal-begin', reason, steps: undo.map((s) => s.id) });
  opts.reporter.reversalStarted(reason, [...undo]);
  for (const step of undo) {
    const error = await runOne(step, 'reverse', opts, control);
    if (!error) continue;
    // Clean-up that failed (a staged release left on an unreachable host) must not keep the pool
    // from being made whole: it is journaled and reported, and the reversal goes on.
    if (!stepTraits(step.kind).changesProduction) {
      opts.reporter.notice(`left behind: ${step.title} failed (${error.message}); the reversal goes on`);
      continue;
    }
    return { ms: Date.now() - started, error };
  }
  return { ms: Date.now() - started };
}

async function runOne(
  step: AnyStep,
  phase: 'forward' | 'reverse',
  opts: Omit<ExecuteOptions, 'steps'>,
  control: RunControl,
): Promise<Error | undefined> {
  const { journal, reporter } = opts;
  const t0 = Date.now();
  journal.append({ event: 'step-begin', step: step.id, kind: step.kind, title: step.title, phase });
  control.current = { step, phase };
  if (stepTraits(step.kind).changesProduction) {
    control.productionChanged = true;
  }
  reporter.stepStarted(step, phase);
  try {
    // The reversal must run to its end on a first signal: only forward steps see the abort.
    const signal = phase === 'forward' ? control.abort.signal : undefined;
    const changed = await opts.run(step, (m) => reporter.stepProgress(step, m), signal);
    const ms = Date.now() - t0;
    journal.append({ event: 'step-ok', step: step.id, phase, ms, ...(changed === undefined ? {} : { changed }) });
    reporter.stepSucceeded(step, phase, ms, changed);
    return undefined;
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const ms = Date.now() - t0;
    const found = error instanceof BatonError ? error.data : undefined;
    journal.append({ event: 'step-fail', step: step.id, phase, ms, error: error.message, ...(found ? { found } : {}) });
    reporter.stepFailed(step, phase, ms, error);
    return error;
  } finally {
    control.current = undefined;
  }
}
