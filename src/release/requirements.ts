// What apply demands of a plan before it runs (baton.yml `require`): a passed rehearsal of this
// exact plan and N distinct approvers of it. Records of another hash never count.
import type { Config } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import { type Plan, type Rehearsal, planHash } from '../model/plan.js';

/** Refuses (exit 3) a plan whose content no longer matches its hash. */
export function verifyPlanHash(plan: Plan): void {
  const { hash, ...rest } = plan;
  if (planHash(rest) !== hash) {
    throw new PlanRefusedError('the plan file was altered after it was made (its content no longer matches its hash)', 'make a new plan with `baton plan TAG`');
  }
}

/** Distinct approvers of this plan's hash, in the order they approved. */
export function countingApprovers(plan: Plan): string[] {
  return [...new Set((plan.approvals ?? []).filter((a) => a.hash === plan.hash).map((a) => a.by))];
}

/** The newest passed rehearsal of this plan's hash, if any. */
export function passedRehearsal(plan: Plan): Rehearsal | undefined {
  return (plan.rehearsals ?? []).filter((r) => r.hash === plan.hash && r.outcome === 'passed').at(-1);
}

export interface RequirementStatus {
  rehearsal: { required: boolean; passed?: Rehearsal };
  approvals: { required: number; by: string[] };
  /** What is missing, one line each; empty when the plan may run. */
  unmet: string[];
}

export function requirementStatus(plan: Plan, require: Config['require']): RequirementStatus {
  const passed = passedRehearsal(plan);
  const by = countingApprovers(plan);
  const unmet: string[] = [];
  if (require.rehearsal && !passed) unmet.push('baton.yml requires a passed rehearsal of this plan, and it has none');
  if (by.length < require.approvals) {
    unmet.push(`baton.yml requires ${require.approvals} approval${require.approvals === 1 ? '' : 's'} of this plan, it has ${by.length}${by.length ? ` (${by.join(', ')})` : ''}`);
  }
  return { rehearsal: { required: require.rehearsal, ...(passed ? { passed } : {}) }, approvals: { required: require.approvals, by }, unmet };
}

export interface RequirementOptions {
  /** `apply --override-requirements REASON`: run anyway; the reason is journaled. */
  override?: string;
  /** Who overrides, for the journal. */
  by: string;
}

/** Refuses (exit 3) a plan that lacks what baton.yml requires, unless overridden; returns the journal notes the override leaves. */
export function checkRequirements(plan: Plan, require: Config['require'], opts: RequirementOptions): string[] {
  const { unmet } = requirementStatus(plan, require);
  if (opts.override !== undefined) {
    const reason = opts.override.trim();
    if (!reason) throw new PlanRefusedError('--override-requirements needs a reason', 'say why, e.g. --override-requirements "incident 42: hotfix"');
    return [`requirements overridden by ${opts.by}: ${reason} (${unmet.length ? `unmet: ${unmet.join('; ')}` : 'all were met'})`];
  }
  if (unmet.length) {
    throw new PlanRefusedError(
      `the plan does not meet what baton.yml requires:\n  ${unmet.join('\n  ')}`,
      'rehearse it with `baton rehearse FILE`, have it approved with `baton approve FILE`, or override with `baton apply FILE --override-requirements REASON`',
      unmet,
    );
  }
  return [];
}
