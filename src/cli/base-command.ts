// Shared shape of every baton command: --config, --json, and one place that turns any error
// into a message with a hint and the documented exit code.
import { Command, Errors, Flags } from '@oclif/core';
import { BatonError, ConfigError, ExitCode, UserError, toBatonError } from '../errors.js';

export abstract class BatonCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    config: Flags.string({
      char: 'c',
      description: 'path to baton.yml',
      default: 'baton.yml',
      helpGroup: 'GLOBAL',
    }),
  };

  protected override async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    const batonError = isOclifUsageError(err) ? new UserError(err.message, 'see `baton COMMAND --help`') : toBatonError(err);
    process.exitCode = batonError.exitCode;
    if (this.jsonEnabled()) {
      this.logJson({ error: errorToJson(batonError) });
    } else {
      this.logToStderr(`Error: ${batonError.message}`);
      if (batonError.hint) this.logToStderr(`Hint: ${batonError.hint}`);
    }
    throw new Errors.ExitError(batonError.exitCode);
  }
}

/** The machine-readable form of an error, as printed with --json. */
export function errorToJson(e: BatonError): Record<string, unknown> {
  const base: Record<string, unknown> = { kind: e.kind, exitCode: e.exitCode, message: e.message };
  if (e.hint) base.hint = e.hint;
  if (e instanceof ConfigError) base.issues = e.issues;
  if (e.data) base.result = e.data;
  return base;
}

// oclif's parser raises CLIError subclasses for bad flags and arguments.
function isOclifUsageError(err: Error): boolean {
  return err instanceof Errors.CLIError && !(err instanceof BatonError);
}

export { ExitCode };
