import { writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';
import { planPush } from '../src/release/push.js';
import { planText } from '../src/render/plan.js';

export default class PlanCommand extends BatonCommand {
  static override summary = 'Observe production and write the plan for pushing TAG: forward steps, each with its undo.';
  static override examples = ['<%= config.bin %> plan v2.3.1 -o push-v2.3.1.json', '<%= config.bin %> plan v2.3.1 --json'];
  static override args = { tag: Args.string({ description: 'git tag to deploy', required: true }) };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'write the plan (JSON) to this file, for `baton apply`' }),
    first: Flags.string({ description: 'cluster to push first', options: ['a', 'b'], default: 'a' }),
  };

  async run() {
    const { args, flags } = await this.parse(PlanCommand);
    const session = openSession(await loadConfig(flags.config));
    try {
      const { plan } = await planPush(session, args.tag, { first: flags.first as 'a' | 'b' });
      if (flags.output) writeFileSync(flags.output, `${JSON.stringify(plan, null, 2)}\n`);
      if (!this.jsonEnabled()) this.log(planText(plan) + (flags.output ? `\n\nwritten to ${flags.output}; carry it out with: baton apply ${flags.output}` : ''));
      return plan;
    } finally {
      await session.close();
    }
  }
}
