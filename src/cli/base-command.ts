// Shared shape of every baton command: --config, --json, and one place that turns any error
// into a message with a hint and the documented exit code.
import { format } from 'node:util';
import { Command, Errors, Flags } from '@oclif/core';
import { forTerminal } from '../control-characters.js';
import type { Config } from '../config/config.js';
import { emitEvent, JsonLinesReporter } from '../engine/events.js';
import type { Reporter } from '../engine/reporter.js';
import type { Plan } from '../model/plan.js';
import { processInterrupts } from '../engine/interrupts.js';
import { HostFailures } from '../transport/fan-out.js';
import {
  BatonError,
  BugError,
  bugStack,
  ConfigError,
  ExitCode,
  exitCodeFor,
  UserError,
  toBatonError,
  type ExitCodeValue,
} from '../errors.js';

/** `--format jsonl` on the commands that carry out a run: the run as JSON lines on stdout. */
export const runFormatFlag = Flags.string({
  description:
    'jsonl: stream the run as one JSON object a line on stdout as it happens (schema: ' +
    '`baton schema --events`), the result last; everything else goes to stderr',
  options: ['text', 'jsonl'],
  default: 'text',
  exclusive: ['json'],
});

export abstract class BatonCommand extends Command {
  static override enableJsonFlag = true;
  /** Set by a run command given `--format jsonl`: stdout carries only the event stream. */
  protected eventStream = false;

  static override baseFlags = {
    config: Flags.string({
      char: 'c',
      description: 'path to baton.yml',
      default: 'baton.yml',
      helpGroup: 'GLOBAL',
    }),
    environment: Flags.string({
      char: 'e',
      env: 'BATON_ENV',
      description:
        'environment: read baton.NAME.yml laid over baton.yml (maps merged, lists replaced); its own lock, ' +
        'record and journal',
      helpValue: 'NAME',
      helpGroup: 'GLOBAL',
    }),
  };

  /** The configuration the global flags name: --config, with --environment's file laid over it. */
  protected async loadConfig(flags: { config: string; environment?: string | undefined }): Promise<Config> {
    const { loadConfig } = await import('../config/load.js');
    return loadConfig(flags.config, { environment: flags.environment });
  }

  public override async init(): Promise<void> {
    // Stop signals are the run's to handle (finish the step, reverse), not Node's (exit 130 at once).
    processInterrupts.install();
    await super.init();
  }

  // Every line a command prints may carry data from outside (a step title naming a tag, `--as`, a
  // host's answer): without control characters, a terminal cannot be made to run any. --json
  // output goes through logJson, where JSON.stringify escapes them already.
  public override log(message = '', ...args: unknown[]): void {
    if (this.eventStream) super.logToStderr(forTerminal(format(message, ...args)));
    else super.log(forTerminal(format(message, ...args)));
  }

  /** How this command shows a run as it goes: the event stream, else a task list or plain lines. */
  protected async reporterFor(plan: Plan): Promise<Reporter> {
    if (this.eventStream) return new JsonLinesReporter(plan);
    const { reporterFor } = await import('./run-plan.js');
    return reporterFor(plan, this.jsonEnabled());
  }

  /**
   * Lines about what is under way before a run's reporter exists, for a person (not with --json or the event stream).
   */
  protected progressLines(): { progress?: (line: string) => void } {
    return this.jsonEnabled() || this.eventStream ? {} : { progress: (line) => this.logToStderr(line) };
  }

  /** A run command's successful end: with the event stream, its result is the last line. */
  protected done<T extends object>(result: T): T {
    if (this.eventStream)
      emitEvent({ event: 'result', exitCode: ExitCode.OK, result: { ...result } as Record<string, unknown> });
    return result;
  }

  /** "No changes": said to a person, and the result for --json or the event stream. Nothing ran. */
  protected async nothingToDo(plan: Plan): Promise<Record<string, unknown>> {
    const { noChangesJson, noChangesText } = await import('../render/plan.js');
    if (!this.jsonEnabled()) this.log(noChangesText(plan));
    return this.done(noChangesJson(plan));
  }

  public override logToStderr(message = '', ...args: unknown[]): void {
    super.logToStderr(forTerminal(format(message, ...args)));
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    const raised = isOclifUsageError(err)
      ? new UserError(err.message, 'see `baton COMMAND --help`')
      : toBatonError(err);
    const exitCode = exitCodeFor(raised, processInterrupts.productionChanged());
    const hint = hintFor(raised, exitCode);
    process.exitCode = exitCode;
    if (this.eventStream) emitEvent({ event: 'result', exitCode, error: errorToJson(raised, { exitCode, hint }) });
    if (this.jsonEnabled()) {
      this.logJson({ error: errorToJson(raised, { exitCode, hint }) });
    } else {
      this.logToStderr(`Error: ${raised.message}`);
      if (hint) this.logToStderr(`Hint: ${hint}`);
    }
    // As the README and the hint say: a bug's stack only when asked for, on stderr (stdout may be --json).
    if (raised instanceof BugError && process.env.BATON_DEBUG === '1') {
      const stack = bugStack(raised);
      if (stack) this.logToStderr(stack);
    }
    throw new Errors.ExitError(exitCode);
  }
}

/**
 * An error that does not say what it did to production (a host that could not be reached, a
 * command that failed, a bug), raised before this process began any step that changes
 * production, left production as it was: its exit code is 1, and the hint says so.
 */
export function hintFor(e: BatonError, exitCode: ExitCodeValue): string | undefined {
  if (e.effect !== undefined || exitCode !== ExitCode.FAILED_RESTORED) return e.hint;
  return [e.hint, 'nothing in production was changed'].filter(Boolean).join('; ');
}

/** The machine-readable form of an error, as printed with --json. */
export function errorToJson(
  e: BatonError,
  shown: { exitCode: ExitCodeValue; hint?: string | undefined } = { exitCode: e.exitCode, hint: e.hint },
): Record<string, unknown> {
  const base: Record<string, unknown> = { kind: e.kind, exitCode: shown.exitCode, message: e.message };
  if (shown.hint) base.hint = shown.hint;
  if (e instanceof ConfigError) base.issues = e.issues;
  const hosts = hostFailuresIn(e);
  if (hosts)
    base.hosts = hosts.failures.map((f) => ({
      host: f.host,
      message: messageOf(f.error),
      ...(f.error instanceof BatonError && f.error.hint ? { hint: f.error.hint } : {}),
    }));
  if (e.data) base.result = e.data;
  return base;
}

/** The per-host failures behind an error (itself, or what it wraps), for a script to read host by host. */
function hostFailuresIn(e: unknown): HostFailures | undefined {
  for (let at = e, depth = 0; at instanceof Error && depth < 5; at = (at as Error & { cause?: unknown }).cause, depth++)
    if (at instanceof HostFailures) return at;
  return undefined;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// oclif's parser raises CLIError subclasses for bad flags and arguments.
function isOclifUsageError(err: Error): boolean {
  return err instanceof Errors.CLIError && !(err instanceof BatonError);
}

export { ExitCode };
