// Shared by push and apply: open a session, carry out a plan with the right reporter, map the outcome to an error kind.
import type { Config } from '../config/config.js';
import { PlainReporter, type Reporter } from '../engine/reporter.js';
import { InterruptedError } from '../engine/interrupts.js';
import { BatonError, ExitCode, OperationFailedError } from '../errors.js';
import { PLAN_KIND_TRAITS, type Plan } from '../model/plan.js';
import { type ApplyResult } from '../release/push.js';

/** A live task list on a TTY (unless --json), one line per event otherwise. listr2 loads only when
 *  drawn: a rollback is timed from its first instant. */
export async function reporterFor(plan: Plan, json: boolean): Promise<Reporter> {
  if (!process.stderr.isTTY || json || process.env.CI) return new PlainReporter();
  const { ListrReporter } = await import('../engine/listr-reporter.js');
  return new ListrReporter(plan.forward);
}

/** Throws the error a failed run ends with, by what happened to production: untouched or put back
 *  (exit 1, or the refusal's own code: a held lock is 4), or not put back (exit 2). */
export function raiseForOutcome(r: ApplyResult): void {
  const data = summary(r);
  const what = `${PLAN_KIND_TRAITS[r.kind].runOf} ${r.tag}`;
  if (r.outcome === 'reversed' && !r.productionChanged) {
    // Nothing in production changed (the lock was held, a host could not be reached): a refusal speaks for itself.
    if (r.error instanceof BatonError && r.error.exitCode !== ExitCode.NEEDS_ATTENTION && !(r.error instanceof InterruptedError)) {
      r.error.data = data;
      throw r.error;
    }
    const why = r.interruptedBy ? `was stopped by ${r.interruptedBy}` : `failed at ${r.failedStep}: ${r.error?.message}`;
    throw new OperationFailedError(`${what} ${why}; nothing in production had changed`, true, `journal: ${r.journal}`, data);
  }
  if (r.outcome === 'reversed' && r.failedStep === undefined) {
    // `resume` finished the reversal an interrupted run had begun.
    throw new OperationFailedError(`${what} did not go through: its reversal is finished, production is back where it started`, true, `journal: ${r.journal}`, data);
  }
  if (r.outcome === 'reversed') {
    const why = r.interruptedBy ? `was stopped by ${r.interruptedBy} at ${r.failedStep}` : `failed at ${r.failedStep}: ${r.error?.message}`;
    throw new OperationFailedError(`${what} ${why}; what it changed was reversed`, true, `journal: ${r.journal}`, data);
  }
  if (r.outcome === 'needs-attention') {
    throw new OperationFailedError(
      `${what} failed at ${r.failedStep} (${r.error?.message}) and its reversal failed: ${r.reversalError?.message}`,
      false,
      `production needs attention: \`baton status\` shows where it stands, \`baton resume\` or \`baton rollback\` carries on (journal ${r.journal})`,
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
