import { describe, expect, it } from 'vitest';
import { PlanRefusedError } from '../../src/errors.js';
import { PLAN_FORMAT, type Plan, type Rehearsal } from '../../src/model/plan.js';
import { checkRequirements, requirementStatus } from '../../src/release/requirements.js';

const HASH = 'sha256:this-plan';
const base = { format: PLAN_FORMAT, hash: HASH, forward: [] } as unknown as Plan;
const rehearsal = (over: Partial<Rehearsal> = {}): Rehearsal => ({ at: 't', by: 'ada', hash: HASH, outcome: 'passed', against: 'cluster a', forwardMs: 1, reverseMs: 1, ...over });
const approval = (by: string, hash = HASH) => ({ by, at: 't', hash });

function refusal(plan: Plan, require: { rehearsal: boolean; approvals: number }): PlanRefusedError {
  try {
    checkRequirements(plan, require, { by: 'ci' });
  } catch (e) {
    return e as PlanRefusedError;
  }
  throw new Error('expected a refusal');
}

describe('what apply requires of a plan', () => {
  it('lets anything through when nothing is required', () => {
    expect(checkRequirements(base, { rehearsal: false, approvals: 0 }, { by: 'ci' })).toEqual([]);
  });

  it('refuses an unrehearsed plan (exit 3) when a rehearsal is required', () => {
    const err = refusal(base, { rehearsal: true, approvals: 0 });
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/requires a passed rehearsal/);
    expect(err.hint).toMatch(/baton rehearse/);
  });

  it('counts only a passed rehearsal of this very hash', () => {
    const require = { rehearsal: true, approvals: 0 };
    expect(() => checkRequirements({ ...base, rehearsals: [rehearsal({ outcome: 'failed' })] }, require, { by: 'ci' })).toThrow(PlanRefusedError);
    expect(() => checkRequirements({ ...base, rehearsals: [rehearsal({ hash: 'sha256:older-plan' })] }, require, { by: 'ci' })).toThrow(PlanRefusedError);
    expect(checkRequirements({ ...base, rehearsals: [rehearsal({ outcome: 'failed' }), rehearsal()] }, require, { by: 'ci' })).toEqual([]);
  });

  it('needs N distinct approvers of this hash: a duplicate counts once, another hash not at all', () => {
    const require = { rehearsal: false, approvals: 2 };
    const dup = { ...base, approvals: [approval('ada'), approval('ada'), approval('bob', 'sha256:other')] };
    expect(refusal(dup, require).message).toMatch(/requires 2 approvals of this plan, it has 1 \(ada\)/);
    expect(checkRequirements({ ...dup, approvals: [...dup.approvals, approval('bob')] }, require, { by: 'ci' })).toEqual([]);
  });

  it('lists every unmet requirement at once', () => {
    const err = refusal(base, { rehearsal: true, approvals: 1 });
    expect(err.details).toHaveLength(2);
    expect(requirementStatus(base, { rehearsal: true, approvals: 1 }).unmet).toEqual(err.details);
  });

  it('lets an override through and returns the journal note naming who and why', () => {
    const notes = checkRequirements(base, { rehearsal: true, approvals: 1 }, { by: 'ada@laptop', override: 'incident 42: hotfix' });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^requirements overridden by ada@laptop: incident 42: hotfix \(unmet: .*rehearsal.*1 approval/);
  });

  it('refuses an override without a reason', () => {
    expect(() => checkRequirements(base, { rehearsal: true, approvals: 0 }, { by: 'ada', override: '  ' })).toThrow(/needs a reason/);
  });
});
