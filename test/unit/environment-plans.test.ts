// A plan belongs to the environment it was made for: the environment is inside its hash, and a
// plan made for staging is refused under production (exit 3), and the reverse.
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { buildRollbackPlan } from '../../plans/rollback.js';
import type { Config } from '../../src/config/config.js';
import { ExitCode, PlanRefusedError } from '../../src/errors.js';
import { planFileText, planProblems } from '../../src/model/plan-file.js';
import { planHash, type Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const production = planConfigFixture();
const staging: Config = { ...production, environment: 'staging' };
const qa: Config = { ...production, environment: 'qa' };
const observed = observedFixture();
const release = releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc');
const made = (config: Config) =>
  buildBlueGreenPlan({ config, observed, release, createdBy: 'ada', now: new Date('2026-11-27T00:00:00Z') });

function refusal(plan: Plan, config: Config): PlanRefusedError {
  try {
    checkPlan(plan, config);
  } catch (err) {
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(ExitCode.PLAN_REFUSED);
    return err as PlanRefusedError;
  }
  throw new Error('the plan was accepted');
}

describe('a plan records its environment', () => {
  it('inside its hash, after the app in the file', () => {
    const plan = made(staging);
    expect(plan.environment).toBe('staging');
    expect(plan.hash).not.toBe(made(production).hash);
    expect(planFileText(plan)).toMatch(/"app": "shop",\n {2}"environment": "staging",\n {2}"release"/);
  });

  it('not at all without one: plans made before environments keep their hash', () => {
    const plan = made(production);
    expect('environment' in plan).toBe(false);
    const { hash: _, ...rest } = plan;
    expect(planHash(rest)).toBe(plan.hash);
    expect(planFileText(plan)).not.toContain('environment');
  });

  it('refuses a plan file whose environment is no environment name', () => {
    const plan = { ...made(staging), environment: '../production' };
    expect(planProblems(plan).join('\n')).toMatch(/environment that is not an environment name/);
  });
});

describe('a plan made for one environment is refused by another (exit 3)', () => {
  it('is accepted by its own', () => {
    expect(() => checkPlan(made(staging), staging)).not.toThrow();
    expect(() => checkPlan(made(production), production)).not.toThrow();
  });

  it("staging's plan under production", () => {
    const err = refusal(made(staging), production);
    expect(err.message).toBe(
      'the plan was made for environment "staging"; this run is for baton.yml alone (no environment)',
    );
    expect(err.hint).toMatch(/run it with -e staging/);
  });

  it("production's plan under staging", () => {
    const err = refusal(made(production), staging);
    expect(err.message).toBe(
      'the plan was made for baton.yml alone (no environment); this run is for environment "staging"',
    );
    expect(err.hint).toMatch(/run it without -e.*baton plan TAG -e staging/);
  });

  it("one environment's plan under another", () => {
    expect(refusal(made(staging), qa).message).toMatch(
      /made for environment "staging"; this run is for environment "qa"/,
    );
  });

  it('a rollback plan too, though it is made at run time', () => {
    const hosts = observedFixture({ differ: { w1a: { release: 'v2-bbbbbbb' }, w2a: { release: 'v2-bbbbbbb' } } });
    const targets = { w1a: 'v1-aaaaaaa', w2a: 'v1-aaaaaaa' };
    const rollback = buildRollbackPlan({ config: staging, observed: hosts, targets, createdBy: 'ada' });
    expect(rollback.environment).toBe('staging');
    refusal(rollback, production);
  });

  it('relabelled without its hash made again, it is refused as altered', () => {
    const { environment: _, ...relabelled } = made(staging);
    refusal(relabelled, production);
  });
});
