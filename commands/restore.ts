import { Args, Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { confirm } from '../src/cli/confirm.js';
import { raiseForOutcome, summary } from '../src/cli/run-plan.js';
import { runbookMarkdown } from '../src/config-track/restore.js';
import { openSession } from '../src/engine/session.js';
import { UserError } from '../src/errors.js';
import { carryOutRestore, proposeRestore } from '../src/release/restore.js';
import { planText, resultText } from '../src/render/plan.js';

export default class Restore extends BatonCommand {
  static override summary =
    'The bare-metal restore runbook of HOST from its last snapshot; with --run, ' +
    'carry out its automatable part on a rebuilt app host.';
  static override description =
    'Without --run: prints the runbook (packages, every configuration file with its mode and owner, ' +
    'what to put back by hand, the release to deploy) and changes nothing. With --run, ' +
    'on an app host reachable over SSH: takes the lock, drains the host (it stays out of the pool for the ' +
    'whole restore; the rest keep serving), installs the packages it lacks, ' +
    'puts its configuration back from the snapshot, deploys the release its cluster runs from the tag as a ' +
    'push would, smoke-checks it through the host itself, ' +
    'and returns it to the pool only when its cluster is in the pool. Journaled and resumable like a push ' +
    '(baton resume). A failed restore leaves the host out of the pool (exit 1). Asks for confirmation on a ' +
    'TTY; without one it needs --yes.';
  static override examples = [
    '<%= config.bin %> restore web1a.example.com',
    '<%= config.bin %> restore web1a.example.com --run --yes',
    '<%= config.bin %> restore lb.example.com --commit 3f2a1c9',
    '<%= config.bin %> restore web1b.example.com --rehearse --yes   # cluster b is out of the pool',
  ];
  static override args = {
    host: Args.string({ description: 'the host to restore, as named in baton.yml', required: true }),
  };
  static override flags = {
    run: Flags.boolean({ description: 'carry out the automatable part on the host (app hosts only)' }),
    rehearse: Flags.boolean({
      description:
        'rehearse the restore on a host of the idle cluster (out of the pool): carries out --run there, ' +
        'where no user can reach it, and leaves it out of the pool; refused (exit 3) ' +
        'while its cluster is in the pool',
      exclusive: ['run'],
    }),
    commit: Flags.string({
      description: 'snapshot commit to restore from (default: the last snapshot)',
      helpValue: 'COMMIT',
    }),
    yes: Flags.boolean({ char: 'y', description: 'restore without asking (needed where there is no TTY, e.g. CI)' }),
    format: runFormatFlag,
  };

  async run() {
    const { args, flags } = await this.parse(Restore);
    this.eventStream = flags.format === 'jsonl';
    if (flags.commit !== undefined && !/^[0-9a-f]{4,64}$/.test(flags.commit))
      throw new UserError(
        `--commit ${JSON.stringify(flags.commit)} is not a commit id`,
        'give a commit of the snapshot repository: git -C REPO log',
      );
    const run = flags.run || flags.rehearse;
    if (run && !flags.yes && !process.stdin.isTTY) {
      throw new UserError(
        'restore --run changes a host, and there is no terminal to ask for confirmation',
        'pass --yes to restore without asking (CI)',
      );
    }
    const config = await this.loadConfig(flags);
    const session = await openSession(config, undefined, run ? {} : { secrets: 'balancer' });
    try {
      const p = await proposeRestore(session, args.host, {
        run: flags.run,
        rehearse: flags.rehearse,
        ...(flags.commit ? { commit: flags.commit } : {}),
      });
      const runbook = runbookMarkdown(p.runbook, p.context);
      if (!run || !p.plan || !p.observation) {
        if (!this.jsonEnabled()) this.log(runbook);
        return { host: p.runbook.host, commit: p.runbook.commit, runbook: p.runbook, context: p.context };
      }
      if (!this.jsonEnabled()) this.logToStderr(`${runbook}\n\n${planText(p.plan)}\n`);
      if (
        !flags.yes &&
        !(await confirm(`${flags.rehearse ? 'rehearse the restore of' : 'restore'} ${p.runbook.host} now?`))
      )
        return this.done({ host: p.runbook.host, outcome: 'cancelled' });
      const result = await carryOutRestore(
        session,
        { plan: p.plan, observation: p.observation },
        await this.reporterFor(p.plan),
      );
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      if (flags.rehearse && !this.jsonEnabled())
        this.log(
          `rehearsal passed: ${p.runbook.host} restored from snapshot ${p.runbook.commit.slice(0, 12)} and ` +
            'smoke-checked; it stays out of the pool with its cluster',
        );
      return this.done({
        host: p.runbook.host,
        commit: p.runbook.commit,
        ...(flags.rehearse ? { rehearsal: 'passed' } : {}),
        ...summary(result),
      });
    } finally {
      await session.close();
    }
  }
}
