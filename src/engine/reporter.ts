// What the executor tells whoever watches: a live task list on a TTY, one line per event in CI.
import { writeErr } from '../output.js';
import type { AnyStep } from '../model/steps.js';
import { trafficLine } from './traffic-line.js';
import type { TrafficSample } from './traffic.js';

export type Phase = 'forward' | 'reverse';

export interface Reporter {
  stepStarted(step: AnyStep, phase: Phase): void;
  /** A short live status, e.g. "3 sessions left on web1a, web2a". */
  stepProgress(step: AnyStep, message: string): void;
  /** `changed`: what the step journaled it did (a canary's verdict and figures, say). */
  stepSucceeded(step: AnyStep, phase: Phase, ms: number, changed?: unknown): void;
  stepFailed(step: AnyStep, phase: Phase, ms: number, error: Error): void;
  reversalStarted(reason: string, steps: AnyStep[]): void;
  /** Something the person running it must know now (a stop signal arrived). */
  notice(message: string): void;
  /** A look at the balancer while the run lasts (every few hundred ms); each reporter decides how often to show it. */
  traffic?(sample: TrafficSample): void;
  /** Called once the run is over, before the command renders its result. */
  finish(): Promise<void>;
}

/** The run's reporter, with a listener told the same events (hooks and notifications listen so). */
export function teeReporter(reporter: Reporter, listener: Partial<Reporter>): Reporter {
  return {
    stepStarted: (step, phase) => (reporter.stepStarted(step, phase), listener.stepStarted?.(step, phase)),
    stepProgress: (step, message) => reporter.stepProgress(step, message),
    stepSucceeded: (step, phase, ms, changed) => (
      reporter.stepSucceeded(step, phase, ms, changed),
      listener.stepSucceeded?.(step, phase, ms, changed)
    ),
    stepFailed: (step, phase, ms, error) => (
      reporter.stepFailed(step, phase, ms, error),
      listener.stepFailed?.(step, phase, ms, error)
    ),
    reversalStarted: (reason, steps) => (
      reporter.reversalStarted(reason, steps),
      listener.reversalStarted?.(reason, steps)
    ),
    notice: (message) => reporter.notice(message),
    ...(reporter.traffic ? { traffic: (sample: TrafficSample) => reporter.traffic?.(sample) } : {}),
    finish: () => reporter.finish(),
  };
}

/**
 * Whether a step's progress message goes out now: at most one a second per step, since a drain
 * polled every 100 ms must not flood a terminal or a pipeline's log.
 */
export class ProgressThrottle {
  private readonly last = new Map<string, number>();
  constructor(private readonly everyMs = 1000) {}

  allows(stepId: string, now = Date.now()): boolean {
    if (now - (this.last.get(stepId) ?? -Infinity) < this.everyMs) return false;
    this.last.set(stepId, now);
    return true;
  }
}

/** One plain line per event, to stderr (stdout stays free for --json). */
export class PlainReporter implements Reporter {
  private readonly progress = new ProgressThrottle();
  private lastTraffic = { at: -Infinity, line: '' };

  constructor(private readonly write: (line: string) => void = writeErr) {}

  private line(text: string): void {
    this.write(`${new Date().toISOString().slice(11, 23)} ${text}`);
  }

  stepStarted(step: AnyStep, phase: Phase): void {
    this.line(`${phase === 'reverse' ? 'undo' : 'step'} ${step.id}: ${step.title}`);
  }

  stepProgress(step: AnyStep, message: string): void {
    if (this.progress.allows(step.id)) this.line(`  ${step.id}: ${message}`);
  }

  stepSucceeded(step: AnyStep, _phase: Phase, ms: number): void {
    this.line(`  ok ${step.id} (${(ms / 1000).toFixed(2)}s)`);
  }

  stepFailed(step: AnyStep, _phase: Phase, ms: number, error: Error): void {
    this.line(`  FAILED ${step.id} (${(ms / 1000).toFixed(2)}s): ${error.message}`);
  }

  reversalStarted(reason: string, steps: AnyStep[]): void {
    this.line(`reversing ${steps.length} steps: ${reason}`);
  }

  notice(message: string): void {
    this.line(message);
  }

  traffic(sample: TrafficSample): void {
    // A CI log gets a line at most every 5 s, and only when the numbers moved.
    const line = trafficLine(sample);
    const now = Date.now();
    if (!line || line === this.lastTraffic.line || now - this.lastTraffic.at < 5000) return;
    this.lastTraffic = { at: now, line };
    this.line(`  traffic: ${line}`);
  }

  async finish(): Promise<void> {}
}

/** For tests and --json runs that want silence. */
export class SilentReporter implements Reporter {
  readonly events: string[] = [];
  stepStarted(step: AnyStep, phase: Phase): void {
    this.events.push(`${phase}:start:${step.id}`);
  }
  stepProgress(): void {}
  stepSucceeded(step: AnyStep, phase: Phase): void {
    this.events.push(`${phase}:ok:${step.id}`);
  }
  stepFailed(step: AnyStep, phase: Phase): void {
    this.events.push(`${phase}:fail:${step.id}`);
  }
  reversalStarted(): void {
    this.events.push('reversal');
  }
  notice(message: string): void {
    this.events.push(`notice:${message}`);
  }
  async finish(): Promise<void> {}
}
