// What apply demands of a plan before it runs (baton.yml `require`): a passed rehearsal of this
// exact plan and N distinct approvers of it, each record's SSH signature checked against
// require.allowedSigners. The approver is the principal the signature verifies as, never the name
// written beside it; the plan's author (by its maker's signature) does not count unless allowed.
// Records of another hash never count; a record of this hash that does not verify refuses the plan.
import { existsSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import { type Plan, type Rehearsal, planHash } from '../model/plan.js';
import { approvalMessage, authorMessage, rehearsalMessage, verifySigned } from './review-signatures.js';

/** Refuses (exit 3) a plan whose content no longer matches its hash. */
export function verifyPlanHash(plan: Plan): void {
  const { hash, ...rest } = plan;
  if (planHash(rest) !== hash) {
    throw new PlanRefusedError(
      'the plan file was altered after it was made (its content no longer matches its hash)',
      'make a new plan with `baton plan TAG`',
    );
  }
}

export interface RequirementStatus {
  /** `passed`: the newest passed rehearsal of this hash whose signature verifies, and who ran it. */
  rehearsal: { required: boolean; passed?: Rehearsal; by?: string };
  /**
   * `by`: distinct verified principals that count; `author`: the plan's verified maker, whose approval does not count.
   */
  approvals: { required: number; by: string[]; author?: string };
  /** Records of this plan that do not verify, each named with why; any refuses the plan. */
  refused: string[];
  /** What is missing, one line each; with `refused`, empty when the plan may run. */
  unmet: string[];
}

/** Checks the signatures baton.yml's requirements rest on (none when nothing is required) and says what is met. */
export async function requirementStatus(plan: Plan, require: Config['require']): Promise<RequirementStatus> {
  const signers = require.allowedSigners;
  const unmet: string[] = [];
  const refused: string[] = [];
  const checking = require.rehearsal || require.approvals > 0;
  if (checking && !signers)
    unmet.push('baton.yml requires signed review records but sets no require.allowedSigners to check them against');
  // Without the file every signature would read as an unknown key: say what is really wrong, once.
  if (checking && signers && !existsSync(signers)) {
    return {
      rehearsal: { required: require.rehearsal },
      approvals: { required: require.approvals, by: [] },
      refused: [],
      unmet: [...unmet, `require.allowedSigners ${signers} does not exist, so no signature can be checked`],
    };
  }

  const passed = require.rehearsal && signers ? await verifiedRehearsal(plan, signers, refused) : undefined;
  if (require.rehearsal && !passed) unmet.push('baton.yml requires a passed rehearsal of this plan, and it has none');

  let by: string[] = [];
  let author: string | undefined;
  let authorApproved = false;
  if (require.approvals > 0 && signers) {
    if (!require.authorApprovalCounts) author = await verifiedAuthor(plan, signers, unmet, refused);
    ({ by, authorApproved } = await verifiedApprovers(plan, signers, author, refused));
  }
  if (by.length < require.approvals) {
    const own = authorApproved ? `; ${author} made the plan, so their own approval does not count` : '';
    unmet.push(
      `baton.yml requires ${require.approvals} approval${require.approvals === 1 ? '' : 's'} of this plan, ` +
        `it has ${by.length}${by.length ? ` (${by.join(', ')})` : ''}${own}`,
    );
  }
  return {
    rehearsal: { required: require.rehearsal, ...(passed ? { passed: passed.rehearsal, by: passed.by } : {}) },
    approvals: { required: require.approvals, by, ...(author ? { author } : {}) },
    refused,
    unmet,
  };
}

/**
 * The newest passed rehearsal of this plan whose signature verifies, and who it verifies as; each that does not is
 * added to `refused`.
 */
async function verifiedRehearsal(
  plan: Plan,
  signers: string,
  refused: string[],
): Promise<{ rehearsal: Rehearsal; by: string } | undefined> {
  let passed: { rehearsal: Rehearsal; by: string } | undefined;
  for (const [i, r] of (plan.rehearsals ?? []).entries()) {
    if (r.hash !== plan.hash || r.outcome !== 'passed') continue;
    const v = await verifySigned(signers, r, rehearsalMessage(r));
    if ('problem' in v) refused.push(`rehearsal ${i + 1} (by ${shown(r.by)} at ${shown(r.at)}): ${v.problem}`);
    else passed = { rehearsal: r, by: v.principal };
  }
  return passed;
}

/** Who made the plan, by its maker's signature: needed to tell their own approval from a reviewer's. */
async function verifiedAuthor(
  plan: Plan,
  signers: string,
  unmet: string[],
  refused: string[],
): Promise<string | undefined> {
  if (plan.author?.hash !== plan.hash) {
    unmet.push(
      "the plan is not signed by whoever made it, so apply cannot tell their own approval from a reviewer's: " +
        'make it with `baton plan TAG -o FILE --key KEY`',
    );
    return undefined;
  }
  const v = await verifySigned(signers, plan.author, authorMessage(plan.hash));
  if (!('problem' in v)) return v.principal;
  refused.push(`the author's signature (by ${shown(plan.author.by)} at ${shown(plan.author.at)}): ${v.problem}`);
  return undefined;
}

/** The distinct principals whose approvals of this plan verify, the author's aside (`authorApproved`: it was there). */
async function verifiedApprovers(
  plan: Plan,
  signers: string,
  author: string | undefined,
  refused: string[],
): Promise<{ by: string[]; authorApproved: boolean }> {
  const by: string[] = [];
  let authorApproved = false;
  for (const [i, a] of (plan.approvals ?? []).entries()) {
    if (a.hash !== plan.hash) continue;
    const v = await verifySigned(signers, a, approvalMessage(plan.hash));
    if ('problem' in v) refused.push(`approval ${i + 1} (by ${shown(a.by)} at ${shown(a.at)}): ${v.problem}`);
    else if (v.principal === author) authorApproved = true;
    else if (!by.includes(v.principal)) by.push(v.principal);
  }
  return { by, authorApproved };
}

/** Text from the plan file, which anyone may have written, as one harmless line for a terminal. */
function shown(text: unknown): string {
  return String(text).replace(/\p{Cc}/gu, '?');
}

export interface RequirementOptions {
  /** `apply --override-requirements REASON`: run anyway; the reason is journaled. */
  override?: string;
  /** Who overrides, for the journal. */
  by: string;
}

/**
 * Refuses (exit 3) a plan that lacks what baton.yml requires or carries a record that does not verify, unless
 * overridden; returns the journal notes the override leaves.
 */
export async function checkRequirements(
  plan: Plan,
  require: Config['require'],
  opts: RequirementOptions,
): Promise<string[]> {
  if (opts.override !== undefined) {
    const reason = opts.override.trim();
    if (!reason)
      throw new PlanRefusedError(
        '--override-requirements needs a reason',
        'say why, e.g. --override-requirements "incident 42: hotfix"',
      );
    const { unmet, refused } = await requirementStatus(plan, require);
    const missing = [...refused.map((r) => `refused ${r}`), ...unmet];
    return [
      `requirements overridden by ${opts.by}: ${reason}` +
        ` (${missing.length ? `unmet: ${missing.join('; ')}` : 'all were met'})`,
    ];
  }
  const { unmet, refused } = await requirementStatus(plan, require);
  if (refused.length) {
    throw new PlanRefusedError(
      `the plan carries review records that do not verify:\n  ${[...refused, ...unmet].join('\n  ')}`,
      `each must be signed by a key in ${require.allowedSigners}: ` +
        `remove the records named from the plan file, and have it approved (\`baton approve FILE --key KEY\`) ` +
        'or rehearsed again',
      [...refused, ...unmet],
    );
  }
  if (unmet.length) {
    throw new PlanRefusedError(
      `the plan does not meet what baton.yml requires:\n  ${unmet.join('\n  ')}`,
      'rehearse it with `baton rehearse FILE --key KEY`, have it approved with `baton approve FILE --key ' +
        'KEY`, or override with `baton apply FILE --override-requirements REASON`',
      unmet,
    );
  }
  return [];
}
