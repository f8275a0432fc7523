import { existsSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { snapshotRunbooks } from '../src/config-track/restore.js';
import { canaryFlags, withCanaryFlags } from '../src/cli/canary-flag.js';
import { BatonCommand } from '../src/cli/base-command.js';
import { forcePushFlag, forcePushOption } from '../src/cli/force-push-flag.js';
import { overridePreflightFlag, overridePreflightOption } from '../src/cli/override-preflight-flag.js';
import type { Config } from '../src/config/config.js';
import { openSession } from '../src/engine/session.js';
import { UserError } from '../src/errors.js';
import { changesNothing, type Plan } from '../src/model/plan.js';
import { planFileText, readPlanFile, signAsAuthor, writePlanFile } from '../src/release/approve.js';
import { checkPlan } from '../src/release/rederive.js';
import { planPush, type PlanOptions } from '../src/release/push.js';
import { requirementStatus, verifyPlanHash } from '../src/release/requirements.js';
import { sshSigner } from '../src/release/review-signatures.js';
import { authorKey } from '../src/release/signing-key.js';
import { planMarkdown } from '../src/render/plan-markdown.js';
import { noChangesText, planText } from '../src/render/plan.js';

export default class PlanCommand extends BatonCommand {
  static override summary =
    'Observe production and write the plan for pushing TAG: forward steps each with its undo, ' +
    'the reverse plan, the restore runbook.';
  static override description =
    'A cluster whose every host already runs TAG and serves is left alone (not drained, not restarted); ' +
    'when every cluster is, it prints "No changes" and exits 0, and -o still writes the plan, ' +
    'which apply answers with "No changes" too. --force REASON plans every cluster anyway (recorded in the ' +
    'plan). Runs preflight first (see `baton preflight`) and records its findings in the plan; ' +
    'when it refuses, exits 6 unless --override-preflight REASON, ' +
    'which the plan records. -o writes the plan file (JSON, format baton-plan/1) that rehearse, ' +
    'approve and apply read. --format picks what is printed: text, markdown (for review in a pull request) ' +
    'or json. --from renders an existing plan file, with its rehearsals and approvals, ' +
    'without looking at production. With -o and --key the plan file is signed with your SSH key as its ' +
    "author, so apply can tell your own approval from a reviewer's; " +
    'where baton.yml requires approvals (and require.authorApprovalCounts is false) this is needed, ' +
    'and the key defaults to git config user.signingkey.';
  static override examples = [
    '<%= config.bin %> plan v2.3.1 -o push-v2.3.1.json',
    '<%= config.bin %> plan v2.3.1 -o push-v2.3.1.json --key ~/.ssh/id_ed25519',
    '<%= config.bin %> plan v2.3.1 -o push-v2.3.1.json --format markdown > push-v2.3.1.md',
    '<%= config.bin %> plan --from push-v2.3.1.json --format markdown',
  ];
  static override args = { tag: Args.string({ description: 'git tag to deploy' }) };
  static override flags = {
    output: Flags.string({
      char: 'o',
      description: 'write the plan file (JSON) here, for `baton rehearse`, `baton approve` and `baton apply`',
    }),
    format: Flags.string({ description: 'what to print', options: ['text', 'markdown', 'json'], default: 'text' }),
    from: Flags.string({
      description: 'render this existing plan file instead of making a new one',
      exclusive: ['output', 'first', 'override-preflight', 'force', 'canary', 'no-canary'],
    }),
    first: Flags.string({ description: 'cluster to push first', options: ['a', 'b'] }),
    key: Flags.string({
      description: 'SSH key to sign the plan file with as its author (default: git config user.signingkey)',
      helpValue: 'KEY_FILE',
      dependsOn: ['output'],
    }),
    'override-preflight': overridePreflightFlag,
    force: forcePushFlag,
    ...canaryFlags,
  };

  async run() {
    const { args, flags } = await this.parse(PlanCommand);
    if (!args.tag === !flags.from)
      throw new UserError(
        'give a TAG to plan, or --from FILE to render an existing plan',
        'baton plan v2.3.1 -o push.json',
      );
    if (flags.output && /\.(md|markdown|txt)$/i.test(flags.output)) {
      throw new UserError(
        `${flags.output}: the plan file is JSON (rehearse, approve and apply read it)`,
        `write it with -o plan.json, and the review copy with --format markdown > ${flags.output}`,
      );
    }
    // Rendering a plan file needs baton.yml only to say what apply will require of it.
    const config =
      args.tag || existsSync(flags.config) ? withCanaryFlags(await this.loadConfig(flags), flags) : undefined;
    // The key is found before production is looked at: a plan that could not be signed is not worth making.
    const key = flags.output && config ? authorKey(flags.key, config.require) : undefined;
    const override = { ...overridePreflightOption(flags['override-preflight']), ...forcePushOption(flags.force) };
    const made = flags.from
      ? checkedPlanFile(flags.from, config)
      : await this.makePlan(config as Config, args.tag as string, {
          ...(flags.first ? { first: flags.first as 'a' | 'b' } : {}),
          ...override,
        });
    const plan = key ? await signAsAuthor(made, sshSigner(key)) : made;
    if (flags.output) writePlanFile(flags.output, plan);
    if (this.jsonEnabled()) return { changes: !changesNothing(plan), ...plan };
    if (flags.format === 'json') this.log(planFileText(plan).trimEnd());
    else if (flags.format === 'markdown') {
      const runbooks = config ? await snapshotRunbooks(config, plan.observed) : {};
      this.log(
        planMarkdown(plan, config ? { status: await requirementStatus(plan, config.require), runbooks } : {}).trimEnd(),
      );
    } else this.log(changesNothing(plan) ? noChangesText(plan) : planText(plan));
    if (flags.output && changesNothing(plan))
      this.logToStderr(
        `written to ${flags.output}: it changes nothing, and \`baton apply ${flags.output}\` says so (no ` +
          'rehearsal or approval needed)',
      );
    else if (flags.output)
      this.logToStderr(
        `written to ${flags.output}; next: baton rehearse ${flags.output}, baton approve ${flags.output}, ` +
          `baton apply ${flags.output}`,
      );
    return plan;
  }

  private async makePlan(config: Config, tag: string, opts: PlanOptions): Promise<Plan> {
    const session = await openSession(config);
    try {
      return (await planPush(session, tag, { ...opts, ...this.progressLines() })).plan;
    } finally {
      await session.close();
    }
  }
}

/**
 * A plan file to render: unaltered, and when there is a baton.yml, the plan it makes; never a forged plan shown as if
 * it were fine.
 */
function checkedPlanFile(file: string, config: Config | undefined): Plan {
  const plan = readPlanFile(file);
  if (config) checkPlan(plan, config);
  else verifyPlanHash(plan);
  return plan;
}
