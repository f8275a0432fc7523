import { Args, Flags } from '@oclif/core';
import { canaryFlags, withCanaryFlags } from '../src/cli/canary-flag.js';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { forcePushFlag, forcePushOption } from '../src/cli/force-push-flag.js';
import { lockWaitFlag, lockWaitMs, waitForLockIfAsked } from '../src/cli/lock-wait-flag.js';
import { overridePreflightFlag, overridePreflightOption } from '../src/cli/override-preflight-flag.js';
import { raiseForOutcome, summary } from '../src/cli/run-plan.js';
import { openSession } from '../src/engine/session.js';
import { UserError } from '../src/errors.js';
import { checkTagName } from '../src/model/release.js';
import { changesNothing } from '../src/model/plan.js';
import { applyPlan, planPush } from '../src/release/push.js';
import { findResumable, resumeRun } from '../src/release/resume.js';
import { resultText } from '../src/render/plan.js';

export default class Push extends BatonCommand {
  static override summary = 'Plan and carry out a blue/green push of TAG in one step (for CI).';
  static override description =
    'Resolves TAG, observes production and runs preflight (exit 6 when it refuses; ' +
    '--override-preflight REASON goes ahead and journals why), builds the plan and applies it: ' +
    'per cluster drain, wait, activate, smoke-check, return to the pool (the release is staged on every host ' +
    'while the first drain runs). Reverses by itself when a step fails. A cluster whose every host already ' +
    'runs TAG and serves is left alone; when every cluster is, ' +
    'it says "No changes" and exits 0 without taking the lock or draining anything (--force REASON pushes ' +
    'every cluster anyway, journaled). --hold stops after the first cluster flips, ' +
    'with the other still on the old release (the instant-rollback window); --continue finishes a held push.';
  static override examples = [
    '<%= config.bin %> push v2.3.1',
    '<%= config.bin %> push v2.3.1 --hold   # stop after the first cluster flips',
    '<%= config.bin %> push --continue      # finish the held push',
    '<%= config.bin %> push v2.3.1 --json -c deploy/baton.yml',
    '<%= config.bin %> push v2.3.1 --lock-wait 10m   # queue behind a release under way',
    '<%= config.bin %> push v2.3.1 --force "restart for the new TLS bundle"   # also where v2.3.1 already runs',
  ];
  static override args = { tag: Args.string({ description: 'git tag to deploy (not with --continue)' }) };
  static override flags = {
    hold: Flags.boolean({
      description: 'stop after the first cluster is back in the pool (the instant-rollback window)',
      exclusive: ['continue'],
    }),
    continue: Flags.boolean({ description: 'finish the newest held push' }),
    first: Flags.string({ description: 'cluster to push first', options: ['a', 'b'], default: 'a' }),
    'lock-wait': lockWaitFlag,
    'override-preflight': overridePreflightFlag,
    force: { ...forcePushFlag, exclusive: ['continue'] },
    ...canaryFlags,
    format: runFormatFlag,
  };

  async run() {
    const { args, flags } = await this.parse(Push);
    this.eventStream = flags.format === 'jsonl';
    // Before anything is read or reached. A boolean flag not given is undefined, not false: compare as booleans.
    if (Boolean(flags.continue) === Boolean(args.tag)) {
      throw flags.continue
        ? new UserError('--continue takes no TAG: it finishes the held push')
        : new UserError(
            'push needs a TAG (or --continue to finish a held push)',
            `e.g. \`${this.config.bin} push v2.3.1\`, or \`${this.config.bin} push --continue\``,
          );
    }
    // A tag that cannot name a release is refused before baton.yml is even read.
    if (args.tag) checkTagName(args.tag);
    const waitMs = lockWaitMs(flags['lock-wait']);
    // A held push was planned, with its preflight, when it began.
    if (flags.continue && flags['override-preflight'] !== undefined)
      throw new UserError(
        '--continue finishes a held push; its preflight ran when it began, so there is nothing to override',
      );
    const override = { ...overridePreflightOption(flags['override-preflight']), ...forcePushOption(flags.force) };
    const config = withCanaryFlags(await this.loadConfig(flags), flags);
    const held = flags.continue ? findResumable(config, { heldOnly: true }) : undefined;
    const session = await openSession(config);
    try {
      // A held push keeps its lock: --continue does not wait for it.
      await waitForLockIfAsked(session, waitMs, held?.run);
      let result;
      if (held) {
        result = await resumeRun(session, held, await this.reporterFor(held.plan));
      } else {
        const { plan, observation, artifact } = await planPush(session, args.tag as string, {
          first: flags.first as 'a' | 'b',
          hold: flags.hold,
          prepareArtifact: true,
          ...override,
          ...this.progressLines(),
        });
        if (changesNothing(plan)) return await this.nothingToDo(plan);
        result = await applyPlan(session, plan, {
          hold: flags.hold,
          fresh: observation,
          ...(artifact ? { artifact } : {}),
          reporter: await this.reporterFor(plan),
        });
      }
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return this.done({ changes: true, ...summary(result) });
    } finally {
      await session.close();
    }
  }
}
