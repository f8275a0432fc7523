// Shared by push and apply: open a session, carry out a plan with the right reporter, map the outcome to an error kind.
import type { Config } from '../config/config.js';
import { PlainReporter, type Reporter } from '../engine/reporter.js';
import { BatonError, OperationFailedError } from '../errors.js';
import type { Plan } from '../model/plan.js';
import { type ApplyResult } from '../release/push.js';

/** A live task list on a TTY (unless --json), one line per event otherwise. listr2 loads only when
 *  drawn: a rollback is timed from its first instant. */
export async function reporterFor(plan: Plan, json: boolean): Promise<Reporter> {
  if (!process.stderr.isTTY || json || process.env.CI) return new PlainReporter();
  const { ListrReporter } = await import('../engine/listr-reporter.js');
  return new ListrReporter(plan.forward);
}

/** Throws the error a failed run ends with (exit 1 when reversed, 2 when production needs attention). */
export function raiseForOutcome(r: ApplyResult): void {
  const data = summary(r);
  // Nothing was done (the lock was held, say): the first error speaks for itself, with its own exit code.
  if (r.completed.length === 0 && r.error instanceof BatonError && r.outcome === 'reversed') {
    r.error.data = data;
    throw r.error;
  }
  if (r.outcome === 'reversed') throw new OperationFailedError(`push of ${r.tag} failed at ${r.failedStep} and was reversed: ${r.error?.message}`, true, `journal: ${r.journal}`, data);
  if (r.outcome === 'needs-attention') {
    throw new OperationFailedError(
      `push of ${r.tag} failed at ${r.failedStep} (${r.error?.message}) and its reversal failed: ${r.reversalError?.message}`,
      false,
      `production needs attention: see the journal ${r.journal}`,
      data,
    );
  }
}

/** The JSON form of a run's result (errors as messages). */
export function summary(r: ApplyResult): Record<string, unknown> {
  const { error, reversalError, ...rest } = r;
  return { ...rest, ...(error ? { error: error.message } : {}), ...(reversalError ? { reversalError: reversalError.message } : {}) };
}

export type { Config };
