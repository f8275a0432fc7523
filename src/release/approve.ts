// The plan file a review happens on (read, checked, written back in one stable form) and the
// approvals recorded in it. An approval names the plan hash it approves; another hash never counts.
import { execFileSync } from 'node:child_process';
import { UserError } from '../errors.js';
import type { Approval, Plan } from '../model/plan.js';
import { countingApprovers, verifyPlanHash } from './requirements.js';

export { planFileText, readPlanFile, writePlanFile } from '../model/plan-file.js';

/** The reviewer's name: `--as`, else git's user.name <user.email>. */
export function reviewer(as?: string, git: (key: string) => string | undefined = gitConfig): string {
  if (as?.trim()) return as.trim();
  const name = git('user.name');
  const email = git('user.email');
  if (!name && !email) throw new UserError('cannot tell who approves: git config user.name and user.email are unset', 'pass --as "Your Name <you@example.com>"');
  return name && email ? `${name} <${email}>` : ((name ?? email) as string);
}

function gitConfig(key: string): string | undefined {
  try {
    return execFileSync('git', ['config', '--get', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface ApproveResult {
  plan: Plan;
  approval: Approval;
  /** This reviewer had already approved this hash: nothing was added. */
  already: boolean;
  /** Distinct approvers of this hash, after this one. */
  approvers: string[];
}

/** Record `by`'s approval of this exact plan; refuses (exit 3) a plan altered since it was made. */
export function approvePlan(plan: Plan, by: string, now = new Date()): ApproveResult {
  verifyPlanHash(plan);
  const existing = (plan.approvals ?? []).find((a) => a.by === by && a.hash === plan.hash);
  if (existing) return { plan, approval: existing, already: true, approvers: countingApprovers(plan) };
  const approval: Approval = { by, at: now.toISOString(), hash: plan.hash };
  const next = { ...plan, approvals: [...(plan.approvals ?? []), approval] };
  return { plan: next, approval, already: false, approvers: countingApprovers(next) };
}
