// The one plan reader and writer: every plan kind round-trips byte for byte, every step is checked
// against its kind's shape when read, a write is whole or absent, and a run whose plan beside the
// journal is corrupt is reported as such (resume refuses clearly; nothing takes it for "no run").
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { buildRollbackPlan } from '../../plans/rollback.js';
import type { Config } from '../../src/config/config.js';
import { Journal, journalDir } from '../../src/engine/journal.js';
import { planFileText, planProblems, readPlanFile, writePlanFile } from '../../src/model/plan-file.js';
import type { ObservedState, Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { newestRunEntry, planFileOf, runEntriesNewestFirst } from '../../src/release/last-run.js';
import { findResumable } from '../../src/release/resume.js';
import { observedFixture } from '../fixtures/observed.js';

const config = {
  app: { name: 'shop', keep: 5 },
  balancer: { host: 'lb', backend: 'web', driver: 'haproxy' },
  clusters: {
    a: { id: 'a', internal: 'prod-a.example.com', hosts: [] },
    b: { id: 'b', internal: 'prod-b.example.com', hosts: [] },
  },
} as unknown as Config;
const observed: ObservedState = observedFixture({ hosts: ['w1a', 'w1b'], release: 'v2-ccccccc' });
// A release the hosts do not run yet: pushing the one they run and serve plans nothing.
const push = buildBlueGreenPlan({
  config,
  observed,
  release: releaseFor('v3', 'd'.repeat(40)),
  createdBy: 't',
  now: new Date('2026-11-27T00:00:00Z'),
});
const nginxPush = buildBlueGreenPlan({
  config: { ...config, balancer: { ...config.balancer, driver: 'nginx' } } as Config,
  observed,
  release: releaseFor('v3', 'd'.repeat(40)),
  createdBy: 't',
});
const rollback = buildRollbackPlan({
  config,
  observed,
  targets: { w1a: 'v1-aaaaaaa', w1b: 'v1-aaaaaaa' },
  createdBy: 't',
});

describe('plan files', () => {
  it.each([
    ['push', push],
    ['push with a one-change flip (nginx)', nginxPush],
    ['rollback', rollback as Plan],
  ])('a %s plan round-trips byte for byte, its kind kept', (_name, plan) => {
    const file = join(mkdtempSync(join(tmpdir(), 'baton-planfile-')), 'plan.json');
    writePlanFile(file, plan);
    const read = readPlanFile(file);
    expect(read).toEqual(JSON.parse(planFileText(plan)));
    expect(read.kind).toBe(plan.kind);
    expect(planFileText(read)).toBe(planFileText(plan));
    expect(planProblems(read)).toEqual([]);
    // Only the plan: no temp file left beside it.
    expect(readdirSync(join(file, '..'))).toEqual(['plan.json']);
  });

  it('refuses a step without what its kind needs, naming the step', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'baton-planfile-')), 'plan.json');
    const broken = structuredClone(push);
    delete (broken.forward[1] as { members?: string[] }).members;
    writeFileSync(file, JSON.stringify(broken));
    expect(() => readPlanFile(file)).toThrow(
      /not a complete baton plan: forward\[1\] drain-a: a drain step needs members/,
    );
  });
});

describe('a run whose plan beside the journal is corrupt', () => {
  it('is listed with what is wrong, and resume refuses it clearly (exit 1) pointing at rollback', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-corrupt-'));
    mkdirSync(journalDir(dir), { recursive: true });
    const run = '20261129T000000.000Z-abcdef';
    writeFileSync(planFileOf(dir, run), '{"format": "baton-plan/1", "forw');
    new Journal(journalDir(dir), run).append({
      event: 'run-begin',
      command: 'push',
      plan: 'h',
      tag: 'v2',
      by: 't',
      steps: ['lock'],
    });
    const [entry] = runEntriesNewestFirst(dir);
    expect(entry?.plan).toBeUndefined();
    expect(entry?.planProblem).toMatch(/plan\.json: .*JSON/);
    let err: unknown;
    try {
      findResumable(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ exitCode: 1 });
    expect((err as Error).message).toMatch(/did not end, but the plan it ran cannot be read/);
    expect((err as { hint: string }).hint).toMatch(/baton rollback/);
  });

  it('finding the newest run reads no older run (a rollback or resume costs the same with a long journal)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-runs-'));
    mkdirSync(journalDir(dir), { recursive: true });
    // An older run whose journal cannot be read at all: reading it would throw.
    const old = '20261128T000000.000Z-aaaaaa';
    writePlanFile(planFileOf(dir, old), push);
    mkdirSync(join(journalDir(dir), `${old}.jsonl`));
    const run = '20261129T000000.000Z-bbbbbb';
    writePlanFile(planFileOf(dir, run), push);
    new Journal(journalDir(dir), run).append({
      event: 'run-begin',
      command: 'push',
      plan: 'h',
      tag: 'v3',
      by: 't',
      steps: ['lock'],
    });
    expect(findResumable(dir).run).toBe(run);
    expect(newestRunEntry(dir, (r) => r.state.outcome === undefined)?.run).toBe(run);
    expect(() => [...runEntriesNewestFirst(dir)]).toThrow(/EISDIR/);
  });
});
