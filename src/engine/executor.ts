// Runs steps in order, journaling each before the next begins. When a step fails, the undo of
// every step that ran (the failed one included: undos are idempotent) runs newest first.
import type { Step } from '../model/plan.js';
import type { Journal } from './journal.js';
import type { Reporter } from './reporter.js';

/** Runs one step; returns what it changed (journaled). */
export type StepRunner = (step: Step, progress: (message: string) => void) => Promise<unknown>;

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
}

export interface ExecuteOptions {
  steps: readonly Step[];
  run: StepRunner;
  journal: Journal;
  reporter: Reporter;
  /** Stop (successfully) after this step: `push --hold`. */
  holdAfter?: string;
  /** Steps an earlier, interrupted process of this run completed: a failure now undoes them too. */
  alreadyDone?: readonly Step[];
}

// A lock step that failed changed nothing: someone else holds it.
const UNDO_WHEN_FAILED = new Set(['stage', 'drain', 'activate', 'ready', 'flip', 'unstage']);

export async function execute(opts: ExecuteOptions): Promise<ExecutionResult> {
  const { steps } = opts;
  const started = Date.now();
  const done: Step[] = [...(opts.alreadyDone ?? [])];
  for (const step of steps) {
    const error = await runOne(step, 'forward', opts);
    if (error) {
      const forwardMs = Date.now() - started;
      const toUndo = [...(UNDO_WHEN_FAILED.has(step.kind) ? [step] : []), ...[...done].reverse()].flatMap((s) => s.undo);
      if (!toUndo.length) return { outcome: 'reversed', completed: done.map((s) => s.id), failedStep: step.id, error, forwardMs, reversalMs: 0 };
      const reversal = await reverse(toUndo, `${step.id} failed: ${error.message}`, opts);
      return {
        outcome: reversal.error ? 'needs-attention' : 'reversed',
        completed: done.map((s) => s.id),
        failedStep: step.id,
        error,
        reversalError: reversal.error,
        forwardMs,
        reversalMs: reversal.ms,
      };
    }
    done.push(step);
    if (opts.holdAfter === step.id) return { outcome: 'held', completed: done.map((s) => s.id), forwardMs: Date.now() - started };
  }
  return { outcome: 'succeeded', completed: done.map((s) => s.id), forwardMs: Date.now() - started };
}

/** Runs undo steps newest first; stops at the first that fails (production then needs a person). */
export async function reverse(undo: readonly Step[], reason: string, opts: Omit<ExecuteOptions, 'steps'>): Promise<{ ms: number; error?: Error }> {
  const started = Date.now();
  opts.journal.append({ event: 'reversal-begin', reason, steps: undo.map((s) => s.id) });
  opts.reporter.reversalStarted(reason, [...undo]);
  for (const step of undo) {
    const error = await runOne(step, 'reverse', opts);
    if (error) return { ms: Date.now() - started, error };
  }
  return { ms: Date.now() - started };
}

async function runOne(step: Step, phase: 'forward' | 'reverse', opts: Omit<ExecuteOptions, 'steps'>): Promise<Error | undefined> {
  const { journal, reporter } = opts;
  const t0 = Date.now();
  journal.append({ event: 'step-begin', step: step.id, kind: step.kind, title: step.title, phase });
  reporter.stepStarted(step, phase);
  try {
    const changed = await opts.run(step, (m) => reporter.stepProgress(step, m));
    const ms = Date.now() - t0;
    journal.append({ event: 'step-ok', step: step.id, phase, ms, ...(changed === undefined ? {} : { changed }) });
    reporter.stepSucceeded(step, phase, ms);
    return undefined;
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const ms = Date.now() - t0;
    journal.append({ event: 'step-fail', step: step.id, phase, ms, error: error.message });
    reporter.stepFailed(step, phase, ms, error);
    return error;
  }
}
