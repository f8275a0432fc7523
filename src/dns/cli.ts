// Shared by the `baton dns …` commands: the reporter, and the error a failed phase ends with.
import { JsonLinesReporter } from '../engine/events.js';
import { ListrReporter } from '../engine/listr-reporter.js';
import { PlainReporter, type Reporter } from '../engine/reporter.js';
import { OperationFailedError } from '../errors.js';
import type { DnsSession, PhaseResult } from './service.js';
import type { DnsStep } from './types.js';

export function dnsReporter(
  steps: readonly DnsStep[],
  json: boolean,
  stream?: { site: string; phase: string; hash: string },
): Reporter {
  if (stream)
    return new JsonLinesReporter({
      kind: 'dns',
      tag: stream.site,
      phase: stream.phase,
      hash: stream.hash,
      steps: steps.map((s) => s.id),
    });
  return process.stderr.isTTY && !json && !process.env.CI ? new ListrReporter(steps) : new PlainReporter();
}

/** With `--format jsonl`: what the stream's first line names (the site, the phase, the stored plan's hash). */
export function dnsStream(
  on: boolean,
  session: DnsSession,
  phase: string,
): { site: string; phase: string; hash: string } | undefined {
  return on ? { site: session.m.site, phase, hash: session.store.read()?.plan.hash ?? '' } : undefined;
}

/** The JSON form of a phase's result. */
export function phaseJson(r: PhaseResult): Record<string, unknown> {
  const { error, reversalError, state, ...rest } = r;
  return {
    ...rest,
    done: state.done,
    ...(error && { error: error.message }),
    ...(reversalError && { reversalError: reversalError.message }),
  };
}

/** The error a phase that did not go through ends with; its exit code is the phase's end (exitCodeFor). */
export function raiseForPhase(r: PhaseResult): void {
  if (r.outcome === 'succeeded' || (r.phase === 'rollback' && r.outcome === 'reversed')) return;
  const data = phaseJson(r);
  if (r.outcome === 'reversed') {
    const after = r.interruptedBy
      ? `was stopped by ${r.interruptedBy} at ${r.failedStep}`
      : `failed at ${r.failedStep}: ${r.error?.message}`;
    throw new OperationFailedError(
      `dns ${r.phase} ${after}; ${r.productionChanged ? 'what it changed was reversed' : 'nothing public had changed'}`,
      { ran: r },
      `journal: ${r.journal}`,
      data,
    );
  }
  throw new OperationFailedError(
    `dns ${r.phase} failed at ${r.failedStep} ` +
      `(${r.error?.message})${r.reversalError ? ` and its reversal failed: ${r.reversalError.message}` : ''}`,
    { ran: r },
    `needs attention: see the journal ${r.journal}`,
    data,
  );
}
