import { Args, Flags } from '@oclif/core';
import { BatonCommand, runFormatFlag } from '../src/cli/base-command.js';
import { lockWaitFlag, lockWaitMs, waitForLockIfAsked } from '../src/cli/lock-wait-flag.js';
import { raiseForOutcome, summary } from '../src/cli/run-plan.js';
import { openSession } from '../src/engine/session.js';
import { changesNothing } from '../src/model/plan.js';
import { readPlanFile } from '../src/release/approve.js';
import { applyPlan, checkNothingToDo } from '../src/release/push.js';
import { resultText } from '../src/render/plan.js';

export default class Apply extends BatonCommand {
  static override summary =
    'Carry out exactly the plan in PLAN; refuses an altered plan, ' +
    'one made from a state that has since changed, and one without the rehearsal or approvals baton.yml ' +
    'requires.';
  static override description =
    'A plan that changes nothing (every host already ran and served its release when it was made) ' +
    'says "No changes" and exits 0 once production is seen to be still as planned: no lock, ' +
    'rehearsal or approval is needed. Refusals exit 3 and change nothing; ' +
    'a stale plan prints the drift member by member and host by host. --override-requirements runs a plan ' +
    'that lacks the required rehearsal or approvals anyway, and journals who did so and why. With track: ' +
    'in baton.yml, a host whose tracked configuration changed since the plan was made refuses the plan (exit ' +
    '3) unless --accept-drift REASON.';
  static override examples = [
    '<%= config.bin %> apply push-v2.3.1.json',
    '<%= config.bin %> apply push-v2.3.1.json --override-requirements "incident 42: hotfix, approved on the call"',
  ];
  static override args = { plan: Args.string({ description: 'plan file written by `baton plan -o`', required: true }) };
  static override flags = {
    'override-requirements': Flags.string({
      description:
        'run even without the rehearsal or approvals baton.yml requires; the reason is recorded in the journal',
      helpValue: 'REASON',
    }),
    'accept-drift': Flags.string({
      description:
        "run even though a host's tracked configuration (track: in baton.yml) " +
        'changed since the plan was made; the reason and what changed are recorded in the journal',
      helpValue: 'REASON',
    }),
    'lock-wait': lockWaitFlag,
    format: runFormatFlag,
  };

  async run() {
    const { args, flags } = await this.parse(Apply);
    this.eventStream = flags.format === 'jsonl';
    const plan = readPlanFile(args.plan);
    const waitMs = lockWaitMs(flags['lock-wait']);
    const session = await openSession(await this.loadConfig(flags));
    try {
      if (changesNothing(plan)) return await checkNothingToDo(session, plan).then(() => this.nothingToDo(plan));
      const override = flags['override-requirements'];
      const acceptDrift = flags['accept-drift'];
      const result = await applyPlan(session, plan, {
        reporter: await this.reporterFor(plan),
        beforeObserving: () => waitForLockIfAsked(session, waitMs),
        ...(override !== undefined ? { overrideRequirements: override } : {}),
        ...(acceptDrift !== undefined ? { acceptDrift } : {}),
      });
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return this.done({ changes: true, ...summary(result) });
    } finally {
      await session.close();
    }
  }
}
