import { Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { confirm } from '../src/cli/confirm.js';
import { lockWaitFlag, lockWaitMs, waitForLockIfAsked } from '../src/cli/lock-wait-flag.js';
import { UserError } from '../src/errors.js';
import { checkTagName } from '../src/model/release.js';
import { applyWithoutBalancer, withoutBalancerFlag } from '../src/cli/without-balancer-flag.js';
import { raiseForOutcome, summary } from '../src/cli/run-plan.js';
import { readRunRecord } from '../src/engine/run-record.js';
import { openSession } from '../src/engine/session.js';
import {
  carryOutRollback,
  proposeRollback,
  readBalancerEarly,
  rollbackTakesOverLockOf,
} from '../src/release/rollback.js';
import { planText, resultText } from '../src/render/plan.js';

export default class Rollback extends BatonCommand {
  static override summary =
    'Return production to the release that ran before, with the same drain / smoke / flip discipline as a push.';
  static override description =
    'Shows first what it will do: the release it returns to, the steps, ' +
    'and whether the other cluster still runs it (warm: one balancer change) or not (cold: ' +
    'cluster by cluster). Never lands on a release marked bad; ' +
    'the release left behind is marked bad. Asks for confirmation on a TTY; without one (CI) ' +
    'it refuses unless --yes (exit 64).';
  static override examples = [
    '<%= config.bin %> rollback',
    '<%= config.bin %> rollback --dry-run',
    '<%= config.bin %> rollback --yes --json',
    '<%= config.bin %> rollback --yes --lock-wait 10m   # queue behind a release under way',
    '<%= config.bin %> rollback --yes --without-balancer lb1.example.com   # lb1 of a pair is lost',
    '<%= config.bin %> rollback --to v1.3.2   # a release the hosts still keep',
  ];
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'roll back without asking (needed where there is no TTY, e.g. CI)' }),
    'dry-run': Flags.boolean({ description: 'only show what the rollback would do' }),
    'lock-wait': lockWaitFlag,
    to: Flags.string({
      description:
        "return to this tag's release, which every host must still keep (app.keep), instead of the one before",
      helpValue: 'TAG',
    }),
    force: Flags.string({
      description: 'with --to: land on a release marked bad anyway; the reason is journaled with who gave it',
      helpValue: 'REASON',
    }),
    'without-balancer': withoutBalancerFlag,
    format: runFormatFlag,
  };

  async run() {
    const { flags } = await this.parse(Rollback);
    this.eventStream = flags.format === 'jsonl';
    refuseFlags(flags);
    const waitMs = lockWaitMs(flags['lock-wait']);
    const { config, notes } = applyWithoutBalancer(await this.loadConfig(flags), flags['without-balancer']);
    for (const line of notes) this.logToStderr(line);
    const session = await openSession(config);
    try {
      // The balancer's members and bad releases are read while the run record is (neither depends on it): the first
      // flip then waits only for the record and the lock. Not behind --lock-wait: production is read once it is over.
      const early = waitMs ? undefined : readBalancerEarly(session);
      for (const line of await readRunRecord(config, session.transports)) this.logToStderr(line);
      // Production is looked at once the other release is done; the lock of the run this rollback undoes is its own to
      // take.
      await waitForLockIfAsked(session, waitMs, rollbackTakesOverLockOf(config));
      // Without a question to ask, the lock is taken while production is observed: seconds count here.
      const asks = !flags.yes && !flags['dry-run'] && process.stdin.isTTY;
      const p = await proposeRollback(session, {
        lockEarly: !asks && !flags['dry-run'],
        ...(flags.to !== undefined ? { to: flags.to } : {}),
        ...(flags.force !== undefined ? { force: flags.force.trim() } : {}),
        ...(early ? { early } : {}),
      });
      const shown = {
        summary: p.summary,
        source: p.source,
        warm: p.plan.warm,
        targets: p.targets,
        from: p.from,
        steps: p.plan.forward.map((s) => s.title),
      };
      if (!this.jsonEnabled()) this.logToStderr(`${p.summary}\nreturning to ${p.source}\n\n${planText(p.plan)}\n`);
      if (!p.plan.forward.length || flags['dry-run']) {
        // Nothing to undo, yet the interrupted run is over: a run of no step records that, and closes it.
        if (!p.plan.forward.length && p.interruptedRun && !flags['dry-run'])
          raiseForOutcome(await carryOutRollback(session, p, await this.reporterFor(p.plan), notes));
        if (p.locked) await session.lock.release(p.run);
        return this.done({ ...shown, outcome: flags['dry-run'] ? 'dry-run' : 'nothing-to-do' });
      }
      if (!flags.yes && !(await confirm('roll back now?'))) return this.done({ ...shown, outcome: 'cancelled' });
      const result = await carryOutRollback(session, p, await this.reporterFor(p.plan), notes);
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return this.done({ ...shown, ...summary(result) });
    } finally {
      await session.close();
    }
  }
}

/** Flags that cannot go together, or a tag that is not one: refused before anything is read or reached. */
function refuseFlags(flags: { yes: boolean; 'dry-run': boolean; force?: string | undefined; to?: string | undefined }) {
  // Like terraform apply without -auto-approve: with nobody to ask, a change to production needs saying so.
  if (!flags.yes && !flags['dry-run'] && !process.stdin.isTTY) {
    throw new UserError(
      'rollback changes production, and there is no terminal to ask for confirmation',
      'pass --yes to roll back without asking (CI), or --dry-run to see what it would do',
    );
  }
  if (flags.force !== undefined && flags.to === undefined)
    throw new UserError(
      '--force goes with --to: a plain rollback never lands on a release marked bad',
      'name the release: baton rollback --to TAG --force REASON',
    );
  if (flags.force !== undefined && !flags.force.trim())
    throw new UserError('--force needs a reason: landing on a release marked bad is journaled with who did it and why');
  if (flags.to !== undefined) checkTagName(flags.to);
}
