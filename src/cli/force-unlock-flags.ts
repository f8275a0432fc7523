// `unlock --force` takes someone else's release lock: it needs a reason, and a person's yes on a
// terminal (or --yes where there is none, as `rollback` does). Checked before anything is read or reached.
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';

export const forceUnlockFlags = {
  force: Flags.boolean({
    description: 'release it even though someone else holds it (needs --reason; asks on a TTY unless --yes)',
  }),
  reason: Flags.string({
    description: "why you take someone else's lock (with --force); reported with whose lock it was",
    helpValue: 'TEXT',
  }),
  yes: Flags.boolean({
    char: 'y',
    description: "take someone else's lock without asking (with --force; needed where there is no TTY, e.g. CI)",
  }),
};

/**
 * What unlock may do with these flags: whether to ask before forcing, and the reason to report. Throws a usage error
 * (64) otherwise.
 */
export function forceUnlockRules(
  flags: { force?: boolean; reason?: string; yes?: boolean },
  tty: boolean,
): { ask: boolean; reason?: string } {
  if (!flags.force) {
    if (flags.reason !== undefined)
      throw new UserError(
        '--reason goes with --force: your own lock, or one whose lease ran out, is released without one',
      );
    if (flags.yes)
      throw new UserError("--yes goes with --force: only taking someone else's lock asks for confirmation");
    return { ask: false };
  }
  const reason = flags.reason?.trim();
  if (!reason) {
    throw new UserError(
      "unlock --force needs --reason TEXT: taking someone else's release lock is reported with who took it and why",
      'e.g. baton unlock --force --reason "CI job 812 was cancelled; its run is gone"',
    );
  }
  // Like rollback: with nobody to ask, taking another release's lock needs saying so.
  if (!flags.yes && !tty)
    throw new UserError(
      "unlock --force takes someone else's release lock, and there is no terminal to ask for confirmation",
      'pass --yes to take it without asking (CI)',
    );
  return { ask: !flags.yes, reason };
}
