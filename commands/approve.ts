import { Args, Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { approvePlan, readPlanFile, reviewer, writePlanFile } from '../src/release/approve.js';

export default class Approve extends BatonCommand {
  static override summary = 'Record your approval of exactly this plan (by its hash) in the plan file.';
  static override description =
    'The reviewer is --as, else git config user.name <user.email>. An altered plan (content no longer matching its hash) is refused with exit 3. Apply counts only approvals of the hash it runs, each reviewer once.';
  static override examples = ['<%= config.bin %> approve push-v2.3.1.json', '<%= config.bin %> approve push-v2.3.1.json --as "Ada <ada@example.com>"'];
  static override args = { plan: Args.string({ description: 'plan file written by `baton plan -o`', required: true }) };
  static override flags = { as: Flags.string({ description: 'who approves (default: from git config)' }) };

  async run() {
    const { args, flags } = await this.parse(Approve);
    const r = approvePlan(readPlanFile(args.plan), reviewer(flags.as));
    if (!r.already) writePlanFile(args.plan, r.plan);
    if (!this.jsonEnabled()) {
      this.log(`${r.already ? 'already approved' : 'approved'} plan ${r.plan.hash} (${r.plan.release.tag}) as ${r.approval.by}`);
      this.log(`approvals of this plan: ${r.approvers.length} (${r.approvers.join(', ')})`);
    }
    return { plan: args.plan, hash: r.plan.hash, approval: r.approval, already: r.already, approvers: r.approvers };
  }
}
