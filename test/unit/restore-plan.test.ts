// The restore plan: the host leaves the pool first and is never returned by a reversal; it goes
// back only when its cluster is in the pool; a maintenance member stays in maintenance; and a
// restore plan read back from its journal passes the same checks apply makes (rederive).
import { describe, expect, it } from 'vitest';
import { buildRestorePlan } from '../../plans/restore.js';
import { planProblems } from '../../src/model/plan-file.js';
import { planHash, reverseSteps, type ObservedState, type Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { releaseToRestore } from '../../src/release/restore.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const config = planConfigFixture();
const SNAPSHOT = 'a'.repeat(40);
const release = releaseFor('v1', 'aaaaaaa' + 'b'.repeat(33));
const build = (observed: ObservedState, host = 'w1a') =>
  buildRestorePlan({
    config,
    observed,
    host,
    snapshot: SNAPSHOT,
    release,
    createdBy: 'ada',
    now: new Date('2026-11-30T00:00:00Z'),
  });
const kinds = (p: Plan) => p.forward.map((s) => s.kind);

describe('the restore plan', () => {
  it(
    'drains the host (even one its health checks took out), restores, deploys, smokes and returns it; ' +
      'a reversal never returns it',
    () => {
      const plan = build(observedFixture({ differ: { w1a: { memberState: 'down', release: null } } }));
      expect(plan.kind).toBe('restore');
      expect(kinds(plan)).toEqual([
        'lock',
        'drain',
        'wait-drain',
        'restore-config',
        'stage',
        'activate',
        'smoke',
        'ready',
        'unlock',
      ]);
      expect(plan.forward.find((s) => s.kind === 'restore-config')).toMatchObject({
        hosts: ['w1a'],
        snapshot: SNAPSHOT,
      });
      expect(plan.forward.find((s) => s.kind === 'activate')).toMatchObject({
        hosts: ['w1a'],
        releases: { w1a: release.dir },
      });
      // Up to the ready step, nothing is undone by putting the host back.
      const beforeReady = plan.forward.slice(
        0,
        plan.forward.findIndex((s) => s.kind === 'ready'),
      );
      expect(reverseSteps(beforeReady).map((s) => s.kind)).toEqual(['unlock']);
      expect(planProblems(JSON.parse(JSON.stringify(plan)))).toEqual([]);
    },
  );

  it('leaves the host out when its cluster is out of the pool, and a maintenance member in maintenance', () => {
    const drained = build(
      observedFixture({ differ: { w1a: { memberState: 'drain' }, w2a: { memberState: 'drain' } } }),
    );
    expect(kinds(drained)).not.toContain('ready');
    expect(kinds(drained)).not.toContain('drain');
    const maint = build(observedFixture({ differ: { w1a: { memberState: 'maint' } } }));
    expect(kinds(maint)).toEqual(['lock', 'restore-config', 'stage', 'activate', 'smoke', 'unlock']);
  });

  it('refuses a host that is not an app host', () => {
    expect(() => build(observedFixture(), 'lb')).toThrow(/lb is not an app host of either cluster/);
  });

  it('passes the checks apply and resume make, and a forged snapshot commit is refused (exit 3)', () => {
    const plan = build(observedFixture({ differ: { w1a: { memberState: 'down', release: null } } }));
    expect(() => checkPlan(plan, config)).not.toThrow();
    const forged = structuredClone(plan);
    forged.forward.find((s) => s.kind === 'restore-config')!.snapshot = 'c'.repeat(40);
    const { hash: _, ...rest } = forged;
    forged.hash = planHash(rest);
    expect(() => checkPlan(forged, config)).toThrow(expect.objectContaining({ exitCode: 3 }));
  });
});

describe('which release a restore deploys', () => {
  it('is the one the rest of its cluster runs, else the one the snapshot recorded', () => {
    const observed = observedFixture({ release: 'v2-ccccccc', differ: { w1a: { release: null } } });
    expect(releaseToRestore(observed, 'w1a', 'v1-aaaaaaa')).toBe('v2-ccccccc');
    const alone = observedFixture({ hosts: ['w1a', 'w1b'], differ: { w1a: { release: null } } });
    expect(releaseToRestore(alone, 'w1a', 'v1-bbbbbbb')).toBe('v1-bbbbbbb');
  });

  it('refuses when the rest of its cluster disagree (a push half done)', () => {
    const split = observedFixture({
      hosts: ['w1a', 'w2a', 'w1b'],
      differ: { w2a: { release: 'v2-ccccccc' }, w1a: { release: null } },
    });
    const three = {
      ...split,
      hosts: [...split.hosts, { ...split.hosts[1]!, host: 'w3a', member: 'web3a', release: 'v1-aaaaaaa' }],
    };
    expect(() => releaseToRestore(three, 'w1a', null)).toThrow(
      /run different releases \(w2a: v2-ccccccc, w3a: v1-aaaaaaa\)/,
    );
  });
});
