import { Args, Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { raiseForOutcome, reporterFor, summary } from '../src/cli/run-plan.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';
import { applyPlan, planPush } from '../src/release/push.js';
import { resultText } from '../src/render/plan.js';

export default class Push extends BatonCommand {
  static override summary = 'Plan and carry out a blue/green push of TAG in one step (for CI).';
  static override description =
    'Resolves TAG, observes production, builds the plan and applies it: stage everywhere, then per cluster drain, wait, activate, smoke-check, return to the pool. Reverses by itself when a step fails.';
  static override examples = ['<%= config.bin %> push v2.3.1', '<%= config.bin %> push v2.3.1 --hold   # stop after the first cluster flips', '<%= config.bin %> push v2.3.1 --json -c deploy/baton.yml'];
  static override args = { tag: Args.string({ description: 'git tag to deploy', required: true }) };
  static override flags = {
    hold: Flags.boolean({ description: 'stop after the first cluster is back in the pool (the instant-rollback window)' }),
    first: Flags.string({ description: 'cluster to push first', options: ['a', 'b'], default: 'a' }),
  };

  async run() {
    const { args, flags } = await this.parse(Push);
    const config = await loadConfig(flags.config);
    const session = openSession(config);
    try {
      const { plan, observation } = await planPush(session, args.tag, { first: flags.first as 'a' | 'b' });
      const result = await applyPlan(session, plan, { reporter: reporterFor(plan, this.jsonEnabled()), hold: flags.hold, fresh: observation });
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return { ...summary(result), plan: plan.hash };
    } finally {
      await session.close();
    }
  }
}
