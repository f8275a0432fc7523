import { BatonCommand } from '../src/cli/base-command.js';
import { confirm } from '../src/cli/confirm.js';
import { forceUnlockFlags, forceUnlockRules } from '../src/cli/force-unlock-flags.js';
import { applyWithoutBalancer, withoutBalancerFlag } from '../src/cli/without-balancer-flag.js';
import { openSession } from '../src/engine/session.js';
import { actor } from '../src/release/push.js';
import { releaseLock } from '../src/release/lock-commands.js';

export default class Unlock extends BatonCommand {
  static override summary =
    "Release the release lock: your own, or an expired one; someone else's only with --force --reason.";
  static override description =
    "Taking someone else's live lock needs --force and --reason TEXT (reported with whose lock it was, " +
    'and in --json); on a TTY it asks first, showing whose lock it is; without one (CI) ' +
    'it refuses unless --yes (exit 64).';
  static override examples = [
    '<%= config.bin %> unlock',
    '<%= config.bin %> unlock --force --reason "CI job 812 was cancelled; its run is gone"',
    '<%= config.bin %> unlock --force --reason "CI job 812 was cancelled" --yes   # no TTY (CI)',
  ];
  static override flags = { ...forceUnlockFlags, 'without-balancer': withoutBalancerFlag };

  async run() {
    const { flags } = await this.parse(Unlock);
    // Before anything is read or reached.
    const { ask, reason } = forceUnlockRules(flags, Boolean(process.stdin.isTTY));
    const { config, notes } = applyWithoutBalancer(await this.loadConfig(flags), flags['without-balancer']);
    for (const line of notes) this.logToStderr(line);
    const session = await openSession(config, undefined, { secrets: 'none' });
    try {
      const r = await releaseLock(session, {
        by: actor(),
        force: flags.force,
        ...(reason !== undefined ? { reason } : {}),
        ...(ask
          ? {
              confirm: (h) =>
                confirm(
                  h
                    ? `take the release lock held by ${h.by} since ${h.since} (${h.reason}; expires ${h.expires})?`
                    : 'remove the release lock whose details cannot be read?',
                ),
            }
          : {}),
      });
      for (const line of r.notices ?? []) this.logToStderr(line);
      if (!this.jsonEnabled()) {
        const h = r.holder;
        this.log(
          r.cancelled
            ? `left the release lock as it was${h ? `, held by ${h.by}` : ''}`
            : h
              ? `released the lock held by ${h.by} since ${h.since} ` +
                `(${h.reason})${r.expired ? '; its lease had run out' : ''}${r.forced ? `; forced: ${r.reason}` : ''}`
              : r.released
                ? `removed a release lock whose details could not be read; forced: ${r.reason}`
                : 'the release lock was not held',
        );
      }
      return r;
    } finally {
      await session.close();
    }
  }
}
