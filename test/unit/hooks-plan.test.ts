// Hooks and notification targets are part of what a reviewer approves: baton.yml's are recorded
// in the plan, its hash covers them, apply refuses a plan whose hooks baton.yml no longer gives
// (naming the hook), and both renderings show them. Mistakes in them are located like any other.
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { PlanRefusedError } from '../../src/errors.js';
import { planFileText, writePlanFile } from '../../src/model/plan-file.js';
import { verifyPlanHash } from '../../src/release/requirements.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const MINIMAL = readFileSync(join(import.meta.dirname, '../fixtures/config/valid/minimal.yml'), 'utf8');
const HOOKS = {
  'before-lock': { run: './hooks/check-freeze', timeoutMs: 30_000 },
  'after-activate': { run: ['./hooks/warm-cache', '--quick'], timeoutMs: 5_000 },
};
const NOTIFY = [
  { url: { env: 'SLACK_URL' }, format: 'slack' as const, events: ['flip' as const, 'reversed' as const] },
];
const withHooks = (hooks: Config['hooks'], notify: Config['notify'] = NOTIFY): Config => ({
  ...planConfigFixture(),
  hooks,
  notify,
});
const made = (config: Config) =>
  buildBlueGreenPlan({
    config,
    observed: observedFixture(),
    release: releaseFor('v2', 'c'.repeat(40)),
    createdBy: 'ada',
    now: new Date('2026-11-27T00:00:00Z'),
  });

describe('hooks in the plan', () => {
  it('are recorded (URLs by the variable that holds them), hashed, and survive the plan file', () => {
    const plan = made(withHooks(HOOKS));
    expect(plan.hooks).toEqual(HOOKS);
    expect(plan.notify).toEqual([{ to: 'env SLACK_URL', format: 'slack', events: ['flip', 'reversed'] }]);
    expect(plan.hash).not.toBe(made(withHooks({}, [])).hash);
    const file = join(mkdtempSync(join(tmpdir(), 'baton-hookplan-')), 'plan.json');
    writePlanFile(file, plan);
    const back = JSON.parse(readFileSync(file, 'utf8'));
    expect(() => verifyPlanHash(back)).not.toThrow();
    expect(planFileText(plan)).toContain('"hooks"');
    // No hooks, no key: plans of a baton.yml without them keep their hash.
    expect(made(withHooks({}, []))).not.toHaveProperty('hooks');
  });

  it('a hook changed in baton.yml since the plan was made refuses the plan, naming the hook', () => {
    const plan = made(withHooks(HOOKS));
    expect(() => checkPlan(plan, withHooks(HOOKS))).not.toThrow();
    const changed = withHooks({ ...HOOKS, 'before-lock': { run: './hooks/always-ok', timeoutMs: 30_000 } });
    expect(() => checkPlan(plan, changed)).toThrow(PlanRefusedError);
    expect(() => checkPlan(plan, changed)).toThrow(/hooks.before-lock: plan .*check-freeze.*baton.yml .*always-ok/);
    expect(() => checkPlan(plan, withHooks(HOOKS, []))).toThrow(/notify: plan/);
  });

  it('are shown in the plan text and its markdown, in the order a run meets them', () => {
    const plan = made(withHooks(HOOKS));
    const text = planText(plan);
    expect(text).toContain('Hooks (run on this machine) and notifications:');
    expect(text).toMatch(
      new RegExp(
        String.raw`before-lock +\./hooks/check-freeze \(sh -c, at most 30s\)\n` +
          String.raw` +after-activate +\["\./hooks/warm-cache","--quick"\] \(no shell, at most 5s\)`,
      ),
    );
    expect(text).toContain('notify env SLACK_URL (slack): flip, reversed');
    const md = planMarkdown(plan);
    expect(md).toContain('## Hooks and notifications');
    expect(md).toContain('| `before-lock` | `./hooks/check-freeze (sh -c, at most 30s)` |');
    expect(md).toContain('| env SLACK_URL | slack | flip, reversed |');
  });
});

describe('hooks and notify in baton.yml', () => {
  const parse = (extra: string) => parseConfig(`${MINIMAL}${extra}`, 'baton.yml');

  it('a hook given as text, a list, or {run, timeout}; hooksTimeout is the default limit', () => {
    const { config, issues } = parse(
      'hooksTimeout: 10s\nhooks:\n  before-lock: ./a\n  after-flip: [./b, x]\n' +
        '  after-success: { run: ./c, timeout: 2m }\n',
    );
    expect(issues).toEqual([]);
    expect(config?.hooks).toEqual({
      'before-lock': { run: './a', timeoutMs: 10_000 },
      'after-flip': { run: ['./b', 'x'], timeoutMs: 10_000 },
      'after-success': { run: './c', timeoutMs: 120_000 },
    });
    expect(parse('').config).not.toHaveProperty('hooks');
    expect(parse('').config).not.toHaveProperty('notify');
  });

  it('mistakes are answered at their line', () => {
    const { issues } = parse(
      'hooks:\n  befor-lock: ./a\n  after-flip: { run: [], timeout: soon }\n' +
        'notify:\n  - { url: ftp://x.example.com/h, format: discord, events: [flipped] }\n',
    );
    const at = issues.map((i) => `${i.line}:${i.path} ${i.message}`);
    expect(at).toEqual([
      expect.stringMatching(/^15:hooks\.befor-lock .*/),
      expect.stringMatching(/^16:hooks\.after-flip\.run .*program/),
      expect.stringMatching(/^16:hooks\.after-flip\.timeout .*duration/),
      expect.stringMatching(/^18:notify\[0\]\.url .*http/),
      expect.stringMatching(/^18:notify\[0\]\.format .*webhook/),
      expect.stringMatching(/^18:notify\[0\]\.events\[0\] .*begin/),
    ]);
  });
});
