// A plan file is checked against what baton.yml makes of it: a forged plan with its hash
// recomputed is refused (exit 3), naming what differs; a genuine one passes whichever cluster
// went first and whether it holds.
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { buildRollbackPlan } from '../../plans/rollback.js';
import type { Config } from '../../src/config/config.js';
import { ExitCode, PlanRefusedError } from '../../src/errors.js';
import { planProblems } from '../../src/model/plan-file.js';
import { type ObservedState, type Plan, planHash } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const config = planConfigFixture();

const observed: ObservedState = observedFixture();
const release = releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc');
const made = (opts: { first?: 'a' | 'b'; hold?: boolean } = {}) =>
  buildBlueGreenPlan({ config, observed, release, createdBy: 'ada', now: new Date('2026-11-27T00:00:00Z'), ...opts });

/** The forger's edit, with the hash recomputed so the unkeyed check passes. */
function forged(edit: (p: Plan) => void): Plan {
  const p = structuredClone(made());
  edit(p);
  const { hash: _, ...rest } = p;
  return { ...p, hash: planHash(rest), approvals: [{ by: 'Mallory', at: '2026-11-27T00:01:00Z', hash: 'x' }] };
}

function refusal(p: Plan): PlanRefusedError {
  try {
    checkPlan(p, config);
  } catch (err) {
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(ExitCode.PLAN_REFUSED);
    return err as PlanRefusedError;
  }
  throw new Error('the plan was accepted');
}

describe('apply re-derives the plan', () => {
  it('accepts the plan baton.yml makes, whichever cluster goes first and whether it holds', () => {
    for (const first of ['a', 'b'] as const)
      for (const hold of [false, true]) expect(() => checkPlan(made({ first, hold }), config)).not.toThrow();
  });

  it('refuses a plan with a host that is not in baton.yml, naming it', () => {
    const err = refusal(
      forged((p) => {
        p.observed.hosts.push({
          host: 'attacker.example.net',
          cluster: 'a',
          member: 'web9a',
          address: '203.0.113.9',
          memberState: 'ready',
          release: null,
        });
        for (const s of p.forward) if (s.kind === 'stage') s.hosts = [...(s.hosts ?? []), 'attacker.example.net'];
      }),
    );
    expect(err.message).toMatch(/host "attacker\.example\.net" is not in baton\.yml/);
  });

  it('refuses a release directory that climbs out of releases/ where the plan is read, before it is re-derived', () => {
    const p = forged((q) => {
      for (const s of q.forward)
        for (const u of [s, ...s.undo])
          if (u.releases) for (const h of Object.keys(u.releases)) u.releases[h] = '../../../etc';
    });
    expect(planProblems(p).join('\n')).toMatch(/names a release that is not a release directory name/);
    const dir = forged((q) => (q.release = { ...q.release, dir: '../../../etc' }));
    expect(planProblems(dir).join('\n')).toMatch(
      /release directory "\.\.\/\.\.\/\.\.\/etc" is not a release directory name/,
    );
    expect(refusal(dir).message).toMatch(/release directory is not the one its tag and commit make/);
  });

  it("refuses a step edited within baton.yml's hosts, naming the step and the field", () => {
    const err = refusal(
      forged((p) => {
        const drain = p.forward.find((s) => s.id === 'drain-a');
        if (drain) drain.members = ['web1a']; // leaves web2a serving while its host is switched
      }),
    );
    expect(err.message).toMatch(
      /step drain-a: members is \["web1a"\] in the plan, \["web1a","web2a"\] from baton\.yml/,
    );
  });

  it('refuses a step removed or added, and a plan made from another baton.yml', () => {
    expect(refusal(forged((p) => (p.forward = p.forward.filter((s) => s.kind !== 'smoke')))).message).toMatch(
      /step smoke-a \(smoke\) that baton\.yml makes is missing/,
    );
    const otherConfig = { ...config, app: { ...config.app, keep: 2 } } as Config;
    expect(() => checkPlan(made(), otherConfig)).toThrow(
      /step stage: title is .*last 5 releases.* in the plan, .*last 2 releases.* from baton\.yml/,
    );
  });

  it('still refuses an edit without a recomputed hash as altered', () => {
    const p = structuredClone(made());
    p.createdBy = 'mallory';
    expect(() => checkPlan(p, config)).toThrow(/altered after it was made/);
  });

  it("checks a rollback plan (resumed from the journal) against baton.yml's hosts", () => {
    const rollback = buildRollbackPlan({
      config,
      observed: { ...observed, hosts: observed.hosts.map((h) => ({ ...h, release: 'v2-ccccccc' })) },
      targets: { w1a: 'v1-aaaaaaa', w2a: 'v1-aaaaaaa', w1b: 'v1-aaaaaaa', w2b: 'v1-aaaaaaa' },
      createdBy: 'ada',
    });
    expect(() => checkPlan(rollback, config)).not.toThrow();
    const bad = structuredClone(rollback) as Plan;
    const activate = bad.forward.find((s) => s.kind === 'activate');
    if (activate?.releases) activate.releases['evil.example'] = 'v1-aaaaaaa';
    const { hash: _, ...rest } = bad;
    expect(() => checkPlan({ ...bad, hash: planHash(rest) }, config)).toThrow(
      /host "evil\.example" is not in baton\.yml/,
    );
  });
});
