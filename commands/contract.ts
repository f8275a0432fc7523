import { Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { confirm } from '../src/cli/confirm.js';
import { raiseForOutcome, summary } from '../src/cli/run-plan.js';
import { openSession } from '../src/engine/session.js';
import { UserError } from '../src/errors.js';
import { carryOutContract, proposeContract } from '../src/release/contract.js';
import { planText, resultText } from '../src/render/plan.js';

export default class Contract extends BatonCommand {
  static override summary =
    'Contract the schema: run migrate.contract once every host runs the release it was expanded for. Irreversible.';
  static override description =
    'Reads the ledger the last push with migrate.expand left on the migrate host and what every host runs. ' +
    'Refuses (exit 3, nothing changed) while any host runs another release, or when no expand is recorded; ' +
    'exit 64 without migrate.contract. Otherwise takes the lock, checks the hosts once more, ' +
    "and runs migrate.contract in the current release's directory. baton cannot undo a contract: " +
    'it asks for confirmation on a TTY; without one (CI) it refuses unless --yes (exit 64).';
  static override examples = [
    '<%= config.bin %> contract',
    '<%= config.bin %> contract --dry-run',
    '<%= config.bin %> contract --yes --json',
  ];
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'contract without asking (needed where there is no TTY, e.g. CI)' }),
    'dry-run': Flags.boolean({ description: 'only show what the contract would do, or why it is refused' }),
    format: runFormatFlag,
  };

  async run() {
    const { flags } = await this.parse(Contract);
    this.eventStream = flags.format === 'jsonl';
    // Irreversible: with nobody to ask, it needs saying so, as rollback does.
    if (!flags.yes && !flags['dry-run'] && !process.stdin.isTTY) {
      throw new UserError(
        'contract changes the schema irreversibly, and there is no terminal to ask for confirmation',
        'pass --yes to contract without asking (CI), or --dry-run to see what it would do',
      );
    }
    const session = await openSession(await this.loadConfig(flags));
    try {
      const p = await proposeContract(session);
      const shown = {
        release: p.ledger,
        hosts: p.plan.observed.hosts.map((h) => h.host),
        steps: p.plan.forward.map((s) => s.title),
      };
      if (!this.jsonEnabled())
        this.logToStderr(
          `every host runs ${p.ledger}, the release the schema was expanded for\n\n${planText(p.plan)}\n`,
        );
      if (flags['dry-run']) return this.done({ ...shown, outcome: 'dry-run' });
      if (!flags.yes && !(await confirm(`contract the schema for ${p.ledger} now? baton cannot undo it`)))
        return this.done({ ...shown, outcome: 'cancelled' });
      const result = await carryOutContract(session, p, await this.reporterFor(p.plan));
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return this.done({ ...shown, ...summary(result) });
    } finally {
      await session.close();
    }
  }
}
