import { readFileSync } from 'node:fs';
import { Args } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { raiseForOutcome, reporterFor, summary } from '../src/cli/run-plan.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';
import { UserError } from '../src/errors.js';
import type { Plan } from '../src/model/plan.js';
import { applyPlan } from '../src/release/push.js';
import { resultText } from '../src/render/plan.js';

export default class Apply extends BatonCommand {
  static override summary = 'Carry out exactly the plan in PLAN; refuses an altered plan or one made from a state that has since changed.';
  static override examples = ['<%= config.bin %> apply push-v2.3.1.json'];
  static override args = { plan: Args.string({ description: 'plan file written by `baton plan -o`', required: true }) };

  async run() {
    const { args, flags } = await this.parse(Apply);
    let plan: Plan;
    try {
      plan = JSON.parse(readFileSync(args.plan, 'utf8')) as Plan;
    } catch (err) {
      throw new UserError(`cannot read plan ${args.plan}: ${(err as Error).message}`);
    }
    const session = openSession(await loadConfig(flags.config));
    try {
      const result = await applyPlan(session, plan, { reporter: reporterFor(plan, this.jsonEnabled()) });
      if (!this.jsonEnabled()) this.log(resultText(result));
      raiseForOutcome(result);
      return summary(result);
    } finally {
      await session.close();
    }
  }
}
