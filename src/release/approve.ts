// The plan file a review happens on (read, checked, written back in one stable form) and the
// signed approvals recorded in it. An approval names the plan hash it approves and is signed with
// the reviewer's SSH key; another hash never counts.
import { execFileSync } from 'node:child_process';
import { UserError } from '../errors.js';
import type { Approval, Plan } from '../model/plan.js';
import { verifyPlanHash } from './requirements.js';
import { approvalMessage, authorMessage, type Signer } from './review-signatures.js';

export { planFileText, readPlanFile, writePlanFile } from '../model/plan-file.js';

/** The reviewer's name: `--as`, else git's user.name <user.email>. */
export function reviewer(as?: string, git: (key: string) => string | undefined = gitConfig): string {
  if (as?.trim()) return as.trim();
  const name = git('user.name');
  const email = git('user.email');
  if (!name && !email)
    throw new UserError(
      'cannot tell who approves: git config user.name and user.email are unset',
      'pass --as "Your Name <you@example.com>"',
    );
  return name && email ? `${name} <${email}>` : ((name ?? email) as string);
}

export function gitConfig(key: string): string | undefined {
  try {
    return (
      execFileSync('git', ['config', '--get', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

export interface ApproveResult {
  plan: Plan;
  approval: Approval;
  /** This key had already approved this hash (under whatever name): nothing was added. */
  already: boolean;
  /** Names on the signed approvals of this hash, after this one, as written (apply checks who really signed). */
  approvers: string[];
}

/** Record `by`'s signed approval of this exact plan; refuses (exit 3) a plan altered since it was made. */
export async function approvePlan(plan: Plan, by: string, sign: Signer, now = new Date()): Promise<ApproveResult> {
  verifyPlanHash(plan);
  const signed = await sign(approvalMessage(plan.hash));
  const existing = (plan.approvals ?? []).find((a) => a.hash === plan.hash && a.key === signed.key);
  if (existing) return { plan, approval: existing, already: true, approvers: signedApprovers(plan) };
  const approval: Approval = { by, at: now.toISOString(), hash: plan.hash, ...signed };
  const next = { ...plan, approvals: [...(plan.approvals ?? []), approval] };
  return { plan: next, approval, already: false, approvers: signedApprovers(next) };
}

/** The plan signed by whoever made it, so apply can tell the author's approval from a reviewer's. */
export async function signAsAuthor(plan: Plan, sign: Signer, now = new Date()): Promise<Plan> {
  verifyPlanHash(plan);
  return {
    ...plan,
    author: { by: plan.createdBy, at: now.toISOString(), hash: plan.hash, ...(await sign(authorMessage(plan.hash))) },
  };
}

function signedApprovers(plan: Plan): string[] {
  return [...new Set((plan.approvals ?? []).filter((a) => a.hash === plan.hash && a.signature).map((a) => a.by))];
}
