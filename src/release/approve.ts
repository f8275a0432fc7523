// The plan file a review happens on (read, checked, written back in one stable form) and the
// approvals recorded in it. An approval names the plan hash it approves; another hash never counts.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { PLAN_FORMAT, type Approval, type Plan, unknownStepKinds } from '../model/plan.js';
import { countingApprovers, verifyPlanHash } from './requirements.js';

// Top-level keys in the order they are written: the hashed content, its hash, then the review records.
const KEY_ORDER = ['format', 'app', 'release', 'createdAt', 'createdBy', 'observed', 'observedDigest', 'forward', 'hash', 'approvals', 'rehearsals'] as const;

/** The plan file's text: the same plan always gives the same bytes. */
export function planFileText(plan: Plan): string {
  const ordered = Object.fromEntries(KEY_ORDER.filter((k) => plan[k] !== undefined).map((k) => [k, plan[k]]));
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Write the plan file whole or not at all (a rename), so a kill never leaves half a plan. */
export function writePlanFile(file: string, plan: Plan): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, planFileText(plan));
  renameSync(tmp, file);
}

/** Read a plan file; refuses what is not a `baton-plan/1` file (usage error, exit 64). */
export function readPlanFile(file: string): Plan {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read plan ${file}: ${(err as Error).message}`, 'write one with `baton plan TAG -o FILE`');
  }
  const p = data as Partial<Plan> | null;
  if (!p || typeof p !== 'object' || p.format !== PLAN_FORMAT) {
    const found = p && typeof p === 'object' && 'format' in p ? `format ${JSON.stringify(p.format)}` : 'no format field';
    throw new UserError(`${file} is not a baton plan (${found}; this baton reads ${PLAN_FORMAT})`, 'write one with `baton plan TAG -o FILE`');
  }
  if (typeof p.hash !== 'string' || !Array.isArray(p.forward) || !Array.isArray(p.observed?.hosts) || !p.release) {
    throw new UserError(`${file} is not a complete baton plan (hash, forward steps, observed state or release missing)`, 'make a new plan with `baton plan TAG -o FILE`');
  }
  const unknown = unknownStepKinds(p.forward);
  if (unknown.length) {
    throw new UserError(`${file} has steps this baton cannot carry out (${unknown.join(', ')}): it was made by a newer baton`, 'apply it with the baton that made it, or make a new plan with this one');
  }
  return p as Plan;
}

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
