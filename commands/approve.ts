import { existsSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { approvePlan, readPlanFile, reviewer, writePlanFile } from '../src/release/approve.js';
import { approvalMessage, sshSigner, verifySigned } from '../src/release/review-signatures.js';
import { signingKey } from '../src/release/signing-key.js';

export default class Approve extends BatonCommand {
  static override summary =
    'Sign your approval of exactly this plan (by its hash) with your SSH key and record it in the plan file.';
  static override description =
    'The approval is signed with `ssh-keygen -Y sign` (namespace baton-plan, message `baton approve HASH`): ' +
    'the key is --key (a private key, or a public key whose private half is in ssh-agent), ' +
    'else git config user.signingkey. The name recorded is --as, else git config user.name <user.email>; ' +
    'apply does not trust it, it counts the allowed_signers principal (require.allowedSigners) ' +
    "the signature verifies as, each person once, never the plan's author. An altered plan (content no " +
    'longer matching its hash) is refused with exit 3; no key, exit 64.';
  static override examples = [
    '<%= config.bin %> approve push-v2.3.1.json --key ~/.ssh/id_ed25519',
    '<%= config.bin %> approve push-v2.3.1.json --key ~/.ssh/id_ed25519.pub --as "Ada <ada@example.com>"',
  ];
  static override args = { plan: Args.string({ description: 'plan file written by `baton plan -o`', required: true }) };
  static override flags = {
    as: Flags.string({ description: 'who approves, as shown to people (default: from git config)' }),
    key: Flags.string({
      description: 'SSH key to sign with (default: git config user.signingkey)',
      helpValue: 'KEY_FILE',
    }),
  };

  async run() {
    const { args, flags } = await this.parse(Approve);
    const plan = readPlanFile(args.plan);
    const r = await approvePlan(plan, reviewer(flags.as), sshSigner(signingKey(flags.key)));
    if (!r.already) writePlanFile(args.plan, r.plan);
    // Where baton.yml is at hand, say now whether apply will count this signature, not at apply time.
    const signers = existsSync(flags.config)
      ? (await this.loadConfig(flags).catch(() => undefined))?.require.allowedSigners
      : undefined;
    const verdict = signers ? await verifySigned(signers, r.approval, approvalMessage(r.plan.hash)) : undefined;
    if (!this.jsonEnabled()) {
      this.log(
        `${r.already ? 'already approved' : 'approved'} plan ${r.plan.hash} (${r.plan.release.tag}) ` +
          `as ${r.approval.by}, signed with ${r.approval.key}`,
      );
      if (verdict)
        this.log(
          'principal' in verdict
            ? `the signature verifies as ${verdict.principal} (${signers})`
            : `apply will refuse it: ${verdict.problem}`,
        );
      this.log(`signed approvals of this plan: ${r.approvers.length} (${r.approvers.join(', ')})`);
    }
    return {
      plan: args.plan,
      hash: r.plan.hash,
      approval: r.approval,
      already: r.already,
      approvers: r.approvers,
      ...(verdict ? { verdict } : {}),
    };
  }
}
