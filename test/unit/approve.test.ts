import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { Config } from '../../src/config/config.js';
import { PlanRefusedError, UserError } from '../../src/errors.js';
import type { ObservedState, Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { approvePlan, readPlanFile, reviewer, writePlanFile } from '../../src/release/approve.js';
import { countingApprovers } from '../../src/release/requirements.js';

const config = {
  app: { name: 'shop', keep: 5 },
  balancer: { host: 'lb', backend: 'web', driver: 'haproxy' },
  clusters: { a: { id: 'a', internal: 'prod-a', hosts: [] }, b: { id: 'b', internal: 'prod-b', hosts: [] } },
} as unknown as Config;
const observed: ObservedState = {
  observedAt: '2026-11-27T00:00:00Z',
  balancer: { driver: 'haproxy', host: 'lb', backend: 'web' },
  hosts: [
    { host: 'w1a', cluster: 'a', member: 'web1a', address: '10.0.0.11', memberState: 'ready', release: 'v1-aaaaaaa' },
    { host: 'w1b', cluster: 'b', member: 'web1b', address: '10.0.0.41', memberState: 'ready', release: 'v1-aaaaaaa' },
  ],
};

function plan(): Plan {
  return buildBlueGreenPlan({ config, observed, release: releaseFor('v2', 'c'.repeat(40)), createdBy: 'ci', now: new Date('2026-11-27T00:00:00Z') });
}

function planFile(p: Plan = plan()): string {
  const file = join(mkdtempSync(join(tmpdir(), 'baton-approve-')), 'plan.json');
  writePlanFile(file, p);
  return file;
}

describe('approve', () => {
  it('records who approved which hash, and when', () => {
    const r = approvePlan(plan(), 'Ada <ada@example.com>', new Date('2026-11-28T09:00:00Z'));
    expect(r.already).toBe(false);
    expect(r.plan.approvals).toEqual([{ by: 'Ada <ada@example.com>', at: '2026-11-28T09:00:00.000Z', hash: r.plan.hash }]);
    expect(r.approvers).toEqual(['Ada <ada@example.com>']);
  });

  it('leaves the hash alone: approvals are outside what was approved', () => {
    const p = plan();
    const approved = approvePlan(approvePlan(p, 'ada').plan, 'bob').plan;
    expect(approved.hash).toBe(p.hash);
    expect(() => approvePlan(approved, 'carol')).not.toThrow();
  });

  it('refuses an altered plan (exit 3) and records nothing', () => {
    const p = plan();
    p.forward[1]!.members = ['web1b'];
    const err = (() => {
      try {
        approvePlan(p, 'ada');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/altered/);
  });

  it('counts a reviewer once, and never an approval of another hash', () => {
    const p = plan();
    const twice = approvePlan(approvePlan(p, 'ada').plan, 'ada');
    expect(twice.already).toBe(true);
    expect(twice.plan.approvals).toHaveLength(1);
    const withForeign: Plan = { ...twice.plan, approvals: [...(twice.plan.approvals ?? []), { by: 'bob', at: 'x', hash: 'sha256:another-plan' }, { by: 'ada', at: 'y', hash: p.hash }] };
    expect(countingApprovers(withForeign)).toEqual(['ada']);
  });

  it('names the reviewer from --as, else git user.name and user.email', () => {
    const git = (values: Record<string, string>) => (key: string) => values[key];
    expect(reviewer('  Ada Lovelace  ', git({}))).toBe('Ada Lovelace');
    expect(reviewer(undefined, git({ 'user.name': 'Ada', 'user.email': 'ada@example.com' }))).toBe('Ada <ada@example.com>');
    expect(reviewer(undefined, git({ 'user.email': 'ada@example.com' }))).toBe('ada@example.com');
    expect(() => reviewer(undefined, git({}))).toThrow(UserError);
  });
});

describe('plan file', () => {
  it('round-trips a plan with its approvals, byte for byte', () => {
    const file = planFile(approvePlan(plan(), 'ada', new Date(0)).plan);
    const text = readFileSync(file, 'utf8');
    writePlanFile(file, readPlanFile(file));
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(JSON.parse(text)).toMatchObject({ format: 'baton-plan/1', approvals: [{ by: 'ada' }] });
  });

  it('refuses a file that is not a baton-plan/1 plan, saying what it found', () => {
    const file = planFile();
    writeFileSync(file, JSON.stringify({ ...plan(), format: 'baton-plan/9' }));
    expect(() => readPlanFile(file)).toThrow(/not a baton plan \(format "baton-plan\/9"; this baton reads baton-plan\/1\)/);
    writeFileSync(file, '{"format": "baton-plan/1"');
    expect(() => readPlanFile(file)).toThrow(/cannot read plan/);
    writeFileSync(file, JSON.stringify({ format: 'baton-plan/1' }));
    expect(() => readPlanFile(file)).toThrow(/not a complete baton plan/);
  });

  it('refuses a plan with a step kind this baton cannot carry out, forward or undo, instead of passing it as done', () => {
    const file = planFile();
    const p = plan();
    const undo = { id: 'undo-x', kind: 'canary-shift', title: 'shift back', undo: [] };
    writeFileSync(file, JSON.stringify({ ...p, forward: [...p.forward.slice(0, 1), { id: 'x', kind: 'canary', title: 'shift 10%', undo: [undo] }, ...p.forward.slice(1)] }));
    expect(() => readPlanFile(file)).toThrow(/has steps this baton cannot carry out \(canary, canary-shift\): it was made by a newer baton/);
  });
});
