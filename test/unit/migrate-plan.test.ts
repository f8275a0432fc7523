// Schema changes both releases survive: with `migrate`, a push stages, expands and checks the
// release still serving on the expanded schema before anything drains; without it the plan is
// what it always was. The contract is its own plan, refused while any host runs another release.
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { buildContractPlan, contractRefusal } from '../../plans/contract.js';
import type { Config, MigrateConfig } from '../../src/config/config.js';
import { ExitCode, PlanRefusedError, UserError } from '../../src/errors.js';
import { planProblems } from '../../src/model/plan-file.js';
import { type ObservedState, type Plan, planHash, reverseSteps, type Step } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { idleSideSteps } from '../../src/release/rehearse.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const base = planConfigFixture({
  smoke: { checks: [{ path: '/healthz', method: 'GET', status: 200 }], deadlineMs: 1000 },
});
const migrate: MigrateConfig = {
  host: 'w1a',
  expand: './manage.py migrate',
  reverse: './manage.py migrate shop 0041',
  contract: './manage.py contract',
  timeout: 300_000,
  gate: base.smoke.checks,
  gateDeadline: 1000,
};
const withMigrate = (m: Partial<MigrateConfig> = {}): Config => ({ ...base, migrate: { ...migrate, ...m } }) as Config;

const observed: ObservedState = observedFixture({ release: 'v6-aaaaaaa' });
const release = releaseFor('v7', 'abc1234def');
const now = new Date('2026-11-27T00:00:00Z');
const push = (config: Config, opts: { first?: 'a' | 'b'; hold?: boolean } = {}) =>
  buildBlueGreenPlan({ config, observed, release, createdBy: 'ada', now, ...opts });
const step = (p: Plan, id: string) => p.forward.find((s) => s.id === id) as Step;

describe('a push with migrate', () => {
  it('stages, expands and gates before the first drain', () => {
    expect(push(withMigrate()).forward.map((s) => s.id)).toEqual([
      'lock',
      'stage',
      'expand',
      'gate',
      'drain-a',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'ready-a',
      'drain-b',
      'wait-drain-b',
      'activate-b',
      'smoke-b',
      'ready-b',
      'unlock',
    ]);
    expect(
      push(withMigrate(), { first: 'b' })
        .forward.map((s) => s.id)
        .slice(0, 5),
    ).toEqual(['lock', 'stage', 'expand', 'gate', 'drain-b']);
  });

  it('on nginx, still expands and gates before the first drain, and flips as always', () => {
    const nginx = withMigrate();
    (nginx as { balancer: { driver: string } }).balancer = { ...base.balancer, driver: 'nginx' };
    expect(push(nginx).forward.map((s) => s.id)).toEqual([
      'lock',
      'stage',
      'expand',
      'gate',
      'drain-a',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'flip-a',
      'wait-drain-b',
      'activate-b',
      'smoke-b',
      'ready-b',
      'unlock',
    ]);
  });

  it('expands on the migrate host in the new release, undone by migrate.reverse', () => {
    const expand = step(push(withMigrate()), 'expand');
    expect(expand).toMatchObject({ kind: 'expand', hosts: ['w1a'], releases: { w1a: 'v7-abc1234' } });
    expect(expand.title).toBe(
      "expand the schema with v7-abc1234's migrations on w1a (undone by migrate.reverse if the push is reversed)",
    );
    expect(expand.undo).toEqual([
      {
        id: 'undo-expand',
        kind: 'reverse-expand',
        title: 'undo the schema expand of v7-abc1234 on w1a (migrate.reverse)',
        hosts: ['w1a'],
        releases: { w1a: 'v7-abc1234' },
        undo: [],
      },
    ]);
  });

  it('says plainly that baton cannot undo an expand without migrate.reverse', () => {
    const { reverse: _, ...noReverse } = migrate;
    const p = push({ ...base, migrate: noReverse } as Config);
    const expand = step(p, 'expand');
    expect(expand.title).toBe(
      "expand the schema with v7-abc1234's migrations on w1a (cannot be undone by baton: no migrate.reverse)",
    );
    expect(expand.undo).toEqual([]);
    expect(planMarkdown(p)).toContain('**baton cannot undo it** (no `migrate.reverse`)');
  });

  it('gates on the release still serving, through both clusters and every host, changing nothing', () => {
    const gate = step(push(withMigrate()), 'gate');
    expect(gate).toMatchObject({ kind: 'gate', hosts: ['w1a', 'w2a', 'w1b', 'w2b'], undo: [] });
    expect(gate.cluster).toBeUndefined();
    expect(gate.title).toBe(
      'check the release still serving (v6-aaaaaaa) on the expanded schema through prod-a.example.com ' +
        '(cluster a) and prod-b.example.com (cluster b) and each of their hosts, ' +
        'before anything drains (1 check)',
    );
  });

  it('says so when the gate has no checks to run', () => {
    expect(step(push(withMigrate({ gate: [] })), 'gate').title).toMatch(
      /no checks are configured \(smoke or migrate\.gate\), so nothing is checked$/,
    );
  });

  it('reverses a failed gate by undoing the expand, then the staging, then the lock', () => {
    const p = push(withMigrate());
    const upToGate = p.forward.slice(0, p.forward.findIndex((s) => s.id === 'gate') + 1);
    expect(reverseSteps(upToGate).map((s) => s.id)).toEqual(['undo-expand', 'undo-stage', 'undo-lock']);
  });

  it('is a well-formed plan that apply re-derives equal, whichever cluster goes first and whether it holds', () => {
    const config = withMigrate();
    for (const first of ['a', 'b'] as const) {
      for (const hold of [false, true]) {
        const p = push(config, { first, hold });
        expect(planProblems(p)).toEqual([]);
        expect(() => checkPlan(p, config)).not.toThrow();
      }
    }
  });

  it('is refused when baton.yml has no migrate, or another one, naming the difference', () => {
    const p = push(withMigrate());
    expect(() => checkPlan(p, base)).toThrow(PlanRefusedError);
    expect(() => checkPlan(p, base)).toThrow(/step "expand" \(expand\) is in the plan; baton.yml makes no such step/);
    expect(() => checkPlan(p, withMigrate({ host: 'w2b' }))).toThrow(
      /step expand: hosts is \["w1a"\] in the plan, \["w2b"\] from baton.yml/,
    );
  });

  it('keeps the expand whole in an idle-side rehearsal, whichever side the migrate host is on', () => {
    const r = idleSideSteps(push(withMigrate({ host: 'w1b' })));
    expect(r.cluster).toBe('a');
    expect(r.forward.map((s) => s.id)).toEqual([
      'lock',
      'stage',
      'expand',
      'gate',
      'drain-a',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
    ]);
    expect((r.forward.find((s) => s.id === 'expand') as Step).hosts).toEqual(['w1b']);
    expect((r.forward.find((s) => s.id === 'gate') as Step).hosts).toEqual(['w1a', 'w2a']);
    expect(r.reverse.map((s) => s.id).slice(-3)).toEqual(['undo-expand', 'undo-stage', 'undo-lock']);
  });

  it('shows the expand and its gate in the plan text and markdown', () => {
    const p = push(withMigrate());
    expect(planText(p)).toContain("expand the schema with v7-abc1234's migrations on w1a");
    expect(planText(p)).toContain('undo: undo the schema expand of v7-abc1234 on w1a (migrate.reverse)');
    expect(planMarkdown(p)).toContain('**The schema is expanded** on `w1a`');
  });
});

describe('a push without migrate', () => {
  it('is the plan it always was: drain first, staging while it runs', () => {
    const p = push(base);
    expect(p.forward.map((s) => s.id)).toEqual([
      'lock',
      'drain-a',
      'stage',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'ready-a',
      'drain-b',
      'wait-drain-b',
      'activate-b',
      'smoke-b',
      'ready-b',
      'unlock',
    ]);
    expect(p.forward.some((s) => s.kind === 'expand' || s.kind === 'gate')).toBe(false);
    expect(planMarkdown(p)).not.toContain('schema');
  });
});

describe('contract refusal', () => {
  const on = (...releases: (string | null)[]) => releases.map((release, i) => ({ host: `w${i + 1}`, release }));

  it('is ok once every host runs the release the ledger names', () => {
    expect(contractRefusal(on('v7-abc1234', 'v7-abc1234'), 'v7-abc1234')).toBeUndefined();
  });

  it('names each host that runs another release, and what it runs', () => {
    expect(contractRefusal(on('v7-abc1234', 'v6-aaaaaaa', null), 'v7-abc1234')).toBe(
      'the schema was expanded for v7-abc1234, but not every host runs it: w2 runs v6-aaaaaaa, ' +
        'w3 runs nothing; contracting now would take from a release still serving what it needs',
    );
  });

  it('refuses without a ledger: no expand ran', () => {
    expect(contractRefusal(on('v7-abc1234'), null, 'w1a (/srv/shop/migrations/expanded)')).toMatch(
      new RegExp(
        /^no schema expand is recorded on w1a \(\/srv\/shop\/migrations\/expanded\): no push with /.source +
          /migrate\.expand has run/.source,
      ),
    );
  });

  it('refuses when the hosts run a newer release than the one expanded for', () => {
    expect(contractRefusal(on('v8-bbbbbbb', 'v8-bbbbbbb'), 'v7-abc1234')).toMatch(
      /w1 runs v8-bbbbbbb, w2 runs v8-bbbbbbb/,
    );
  });
});

describe('the contract plan', () => {
  const onNew: ObservedState = { ...observed, hosts: observed.hosts.map((h) => ({ ...h, release: 'v7-abc1234' })) };
  const contract = (config: Config, o = onNew, ledger: string | null = 'v7-abc1234') =>
    buildContractPlan({ config, observed: o, ledger, createdBy: 'ada', now });

  it('locks, contracts on the migrate host, unlocks; irreversible, and says so', () => {
    const p = contract(withMigrate());
    expect(p.kind).toBe('contract');
    expect(p.release).toEqual({ tag: 'v7', commit: 'abc1234', dir: 'v7-abc1234' });
    expect(p.forward.map((s) => s.id)).toEqual(['lock', 'contract', 'unlock']);
    const c = step(p, 'contract');
    expect(c).toMatchObject({ kind: 'contract', hosts: ['w1a'], undo: [] });
    expect(c.releases).toEqual({ w1a: 'v7-abc1234', w2a: 'v7-abc1234', w1b: 'v7-abc1234', w2b: 'v7-abc1234' });
    expect(c.title).toMatch(
      /^contract the schema on w1a for v7-abc1234, which every host runs \(irreversible: baton cannot undo a contract/,
    );
    expect(reverseSteps(p.forward).map((s) => s.id)).toEqual(['undo-lock']);
    expect(planProblems(p)).toEqual([]);
    expect(planHash((({ hash: _, ...rest }) => rest)(p))).toBe(p.hash);
    expect(planMarkdown(p)).toContain('**The schema is contracted** on `w1a`');
  });

  it('is refused (exit 3) while a host runs another release, naming it', () => {
    const mixed = { ...onNew, hosts: onNew.hosts.map((h) => (h.host === 'w2b' ? { ...h, release: 'v6-aaaaaaa' } : h)) };
    const err = (() => {
      try {
        contract(withMigrate(), mixed);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(ExitCode.PLAN_REFUSED);
    expect((err as PlanRefusedError).message).toContain('w2b runs v6-aaaaaaa');
  });

  it('is refused (exit 3) when no expand is recorded', () => {
    expect(() => contract(withMigrate(), onNew, null)).toThrow(
      /no schema expand is recorded on w1a \(\/srv\/shop\/migrations\/expanded\)/,
    );
  });

  it('is a usage error (exit 64) without migrate.contract', () => {
    const { contract: _, ...noContract } = migrate;
    for (const config of [base, { ...base, migrate: noContract } as Config]) {
      try {
        contract(config);
        throw new Error('accepted');
      } catch (e) {
        expect((e as UserError).exitCode).toBe(ExitCode.USAGE);
        expect((e as UserError).message).toMatch(/no migrate\.contract/);
      }
    }
  });

  it('re-derives equal from baton.yml, and a forged one is refused', () => {
    const config = withMigrate();
    const p = contract(config);
    expect(() => checkPlan(p, config)).not.toThrow();
    const forged = structuredClone(p);
    (forged.forward[1] as Step).hosts = ['w2b'];
    const { hash: _, ...rest } = forged;
    expect(() => checkPlan({ ...forged, hash: planHash(rest) }, config)).toThrow(
      /not the contract plan baton.yml makes/,
    );
  });
});
