// SIGINT, SIGTERM and SIGHUP for the whole process. While a run is carrying out steps, the first
// signal lets the current step finish (steps that only wait end at once) and reverses what the run
// changed; a second stops at once, leaving the journal for `resume` or `rollback`. Once a run's
// steps are over, a signal lets the rest (the journal's end, end hooks, notifications handed over)
// finish and the command exit by the run's outcome; a second exits by it at once. Before any run
// nothing in production has been changed by this process, so a signal just ends it (exit 1).
// It is also the process's one record of whether a run of it began a step that changes
// production: an error no run caught (the safety net, a command's catch) exits by that.
import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError, ExitCode, exitCodeFor, type RunEnd } from '../errors.js';
import { writeErr } from '../output.js';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** A run was asked to stop; what it changed was (or is being) reversed. */
export class InterruptedError extends BatonError {
  readonly kind = 'interrupted';
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`, 'unchanged');
  }
}

export interface RunInterruptHandler {
  /** First signal: finish the current step, then reverse. */
  first(signal: StopSignal): void;
  /** Second signal: journal where the run stands; returns the exit code to stop with at once. */
  second(signal: StopSignal): number;
  /** The run has begun a step that changes production. */
  productionChanged?(): boolean;
}

export class Interrupts {
  private installed = false;
  private run?: RunInterruptHandler;
  private received = 0;
  private changedByEarlierRun = false;
  /** How the last run of this process ended, while what follows its steps (its record, hooks, notifications) runs. */
  private lastEnd?: RunEnd;

  constructor(
    private readonly exit: (code: number) => void = (code) => process.exit(code),
    private readonly say: (line: string) => void = writeErr,
  ) {}

  /** Take over the stop signals for this process (Node would otherwise exit 130 at once). */
  install(): void {
    if (this.installed) return;
    this.installed = true;
    for (const s of STOP_SIGNALS) process.on(s, () => this.deliver(s));
  }

  /** Signals go to this run until the returned function is called, with how the run ended when it did. */
  enter(handler: RunInterruptHandler): (end?: RunEnd) => void {
    this.remember(this.run);
    this.run = handler;
    this.received = 0;
    this.lastEnd = undefined;
    return (end) => {
      this.remember(handler);
      if (this.run !== handler) return;
      this.run = undefined;
      this.lastEnd = end;
    };
  }

  /**
   * A run of this process has begun a step that changes production (it may be over, even reversed): "unchanged" is no
   * longer certain.
   */
  productionChanged(): boolean {
    return this.changedByEarlierRun || Boolean(this.run?.productionChanged?.());
  }

  private remember(run: RunInterruptHandler | undefined): void {
    if (run?.productionChanged?.()) this.changedByEarlierRun = true;
  }

  deliver(signal: StopSignal): void {
    this.received++;
    if (this.run) {
      if (this.received === 1) this.run.first(signal);
      else this.exit(this.run.second(signal));
    } else if (this.lastEnd) this.afterTheSteps(signal, this.lastEnd);
    else if (this.changedByEarlierRun) {
      this.say(`baton: ${signal} received after a run of this process changed production; stopping (see baton status)`);
      this.exit(ExitCode.NEEDS_ATTENTION);
    } else {
      this.say(`baton: ${signal} received before anything in production changed; stopping`);
      this.exit(exitCodeFor(new InterruptedError(signal)));
    }
  }

  /**
   * The run's steps are over and its outcome is known: the first signal lets the short rest (the journal's end, the end
   * hooks in their time limits, handing notifications over) finish and the command exit by that outcome; a second
   * exits by it at once.
   */
  private afterTheSteps(signal: StopSignal, end: RunEnd): void {
    const code = exitCodeFor(end);
    if (this.received === 1)
      this.say(
        `baton: ${signal} received after the run's steps ended (${end.outcome}): ` +
          `finishing its record, then exiting ${code} (send it again to stop at once)`,
      );
    else {
      this.say(`baton: stopped at once by a second ${signal}; the run's steps had ended (${end.outcome})`);
      this.exit(code);
    }
  }
}

/** The process's signals: installed by every command before it runs. */
export const processInterrupts = new Interrupts();

/** A sleep that ends early, throwing the abort reason, when the run is asked to stop. */
export async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return void (await sleep(ms));
  signal.throwIfAborted();
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    signal.throwIfAborted();
    throw err;
  }
}
