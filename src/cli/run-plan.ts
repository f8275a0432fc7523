// Shared by the commands that carry out a plan: the reporter, and the error a run that did not go through ends with.
import type { Config } from '../config/config.js';
import { PlainReporter, type Reporter } from '../engine/reporter.js';
import { InterruptedError } from '../engine/interrupts.js';
import { BatonError, OperationFailedError, saysNothingChanged } from '../errors.js';
import { PLAN_KIND_TRAITS, type Plan } from '../model/plan.js';
import { type ApplyResult } from '../release/push.js';

/** A live task list on a TTY (unless --json), one line per event otherwise. listr2 loads only when
 *  drawn: a rollback is timed from its first instant. */
export async function reporterFor(plan: Plan, json: boolean): Promise<Reporter> {
  if (!process.stderr.isTTY || json || process.env.CI) return new PlainReporter();
  const { ListrReporter } = await import('../engine/listr-reporter.js');
  return new ListrReporter(plan.forward);
}

/** Throws the error a run that did not go through ends with, saying what happened to production;
 *  its exit code is the run's end (exitCodeFor), or a refusal's own when nothing had changed. */
export function raiseForOutcome(r: ApplyResult): void {
  const data = summary(r);
  const what = `${PLAN_KIND_TRAITS[r.kind].runOf} ${r.tag}`;
  const fail = (message: string, hint: string) => new OperationFailedError(message, { ran: r }, hint, data);
  if (r.outcome === 'reversed' && !r.productionChanged) {
    // Nothing in production changed (the lock was held, a host could not be reached): a refusal speaks for itself.
    if (r.error instanceof BatonError && saysNothingChanged(r.error) && !(r.error instanceof InterruptedError)) {
      r.error.data = data;
      throw r.error;
    }
    const why = r.interruptedBy
      ? `was stopped by ${r.interruptedBy}`
      : `failed at ${r.failedStep}: ${r.error?.message}`;
    throw fail(`${what} ${why}; nothing in production had changed`, `journal: ${r.journal}`);
  }
  if (r.outcome === 'reversed' && r.failedStep === undefined) {
    // `resume` finished the reversal an interrupted run had begun.
    throw fail(
      `${what} did not go through: its reversal is finished, production is back where it started`,
      `journal: ${r.journal}`,
    );
  }
  if (r.outcome === 'reversed') {
    const why = r.interruptedBy
      ? `was stopped by ${r.interruptedBy} at ${r.failedStep}`
      : `failed at ${r.failedStep}: ${r.error?.message}`;
    throw fail(`${what} ${why}; what it changed was reversed`, `journal: ${r.journal}`);
  }
  if (r.outcome === 'needs-attention') {
    throw fail(
      `${what} failed at ${r.failedStep} (${r.error?.message}) and its reversal failed: ${r.reversalError?.message}`,
      `production needs attention: \`baton status\` shows where it stands, ` +
        `\`baton resume\` or \`baton rollback\` carries on (journal ${r.journal})`,
    );
  }
}

/** The JSON form of a run's result (errors as messages). */
export function summary(r: ApplyResult): Record<string, unknown> {
  const { error, reversalError, ...rest } = r;
  return {
    ...rest,
    ...(error ? { error: error.message } : {}),
    ...(reversalError ? { reversalError: reversalError.message } : {}),
  };
}

export type { Config };
