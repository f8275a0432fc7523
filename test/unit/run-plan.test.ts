// The one runner: it opens the journal (or continues one), runs forward, rehearses or only reverses,
// ends the run once, and says what happened to production. The lock and steps are plain objects.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StepRunner } from '../../src/engine/executor.js';
import { journalDir, readJournal } from '../../src/engine/journal.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import { putBack, runPlan, type RunContext, type RunMode } from '../../src/engine/run-plan.js';
import { parseConfig } from '../../src/config/load.js';
import { LockHeldError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Step } from '../../src/model/plan.js';
import { anyFieldsStep } from '../helpers/loose-steps.js';
import { reverseSteps } from '../../src/model/plan.js';

const step = anyFieldsStep;
const STEPS: Step[] = [
  step('lock', 'lock', [step('undo-lock', 'unlock')]),
  step('drain-a', 'drain', [step('undo-drain-a', 'ready')]),
  step('smoke-a', 'smoke'),
];

function harness(fail: (id: string) => Error | undefined = () => undefined) {
  const lockCalls: string[] = [];
  const lock = {
    acquire: async (who: { run?: string; reason: string }) => void lockCalls.push(`acquire ${who.run} ${who.reason}`),
    release: async (run?: string) => (lockCalls.push(`release ${run}`), true),
    renew: async () => undefined,
    beat: async () => undefined,
  } as unknown as ReleaseLock;
  const ran: string[] = [];
  const runs: string[] = [];
  const stepRunner = (run: string): StepRunner => {
    runs.push(run);
    return async (s) => {
      ran.push(s.id);
      const e = fail(s.id);
      if (e) throw e;
      return undefined;
    };
  };
  const ctx: RunContext = {
    runsOf: mkdtempSync(join(tmpdir(), 'baton-runplan-')),
    run: 'r1',
    reporter: new SilentReporter(),
    lock: { lock, leaseMs: 60_000 },
    stepRunner,
  };
  return { ctx, lockCalls, ran, runs };
}

const plan = (steps: readonly Step[] = STEPS) => ({ command: 'push', hash: 'h', tag: 'v2', by: 'ci', steps });
const events = (file: string) => readJournal(file).map((r) => r.event);

describe('runPlan', () => {
  it('forward: one run-begin, the steps, one run-end; the step runner is made under the run id', async () => {
    const h = harness();
    const o = await runPlan(h.ctx, plan(), { forward: {} });
    expect(o).toMatchObject({
      outcome: 'succeeded',
      productionChanged: true,
      completed: ['lock', 'drain-a', 'smoke-a'],
      run: 'r1',
    });
    expect(h.runs).toEqual(['r1']);
    const ev = events(o.journal);
    expect(ev[0]).toBe('run-begin');
    expect(ev.filter((e) => e === 'run-end')).toHaveLength(1);
    expect(ev.at(-1)).toBe('run-end');
  });

  it('a failure reverses what ran and ends the run reversed: production was put back', async () => {
    const h = harness((id) => (id === 'smoke-a' ? new Error('500') : undefined));
    const o = await runPlan(h.ctx, plan(), { forward: {} });
    expect(o).toMatchObject({ outcome: 'reversed', failedStep: 'smoke-a' });
    expect(h.ran).toEqual(['lock', 'drain-a', 'smoke-a', 'undo-drain-a', 'undo-lock']);
    expect(putBack(o)).toBe(true);
    expect(readJournal(o.journal).at(-1)).toMatchObject({ event: 'run-end', outcome: 'reversed' });
  });

  it('resume: a note instead of a second run-begin, the lock taken over when the run had taken it', async () => {
    const h = harness();
    const ctx = { ...h.ctx, lock: { ...h.ctx.lock, owner: { by: 'ci', reason: 'push v2' } } };
    const o = await runPlan(ctx, plan(), { resume: { alreadyDone: STEPS.slice(0, 2), remaining: STEPS.slice(2) } });
    expect(o).toMatchObject({ outcome: 'succeeded', productionChanged: true });
    expect(h.ran).toEqual(['smoke-a']);
    expect(h.lockCalls).toEqual(['acquire r1 push v2']);
    const ev = events(o.journal);
    expect(ev).not.toContain('run-begin');
    expect(readJournal(o.journal)[0]).toMatchObject({ event: 'note', message: 'resumed by ci: smoke-a' });
  });

  it('reverse: only the undo steps, the lock held throughout and given back', async () => {
    const h = harness();
    const ctx = {
      ...h.ctx,
      lock: { ...h.ctx.lock, holdThroughout: true, owner: { by: 'ci', reason: 'dns rollback' } },
    };
    const o = await runPlan(ctx, plan(reverseSteps(STEPS)), { reverse: { reason: 'dns rollback' } });
    expect(o).toMatchObject({ outcome: 'reversed', completed: [], forwardMs: 0 });
    expect(h.ran).toEqual(['undo-drain-a', 'undo-lock']);
    expect(h.lockCalls).toEqual(['acquire r1 dns rollback', 'release r1']);
  });

  it('a lock held by someone else: no run begins', async () => {
    const h = harness();
    const lock = {
      ...h.ctx.lock,
      lock: {
        acquire: async () => {
          throw new LockHeldError('held by bob');
        },
      } as unknown as ReleaseLock,
      holdThroughout: true,
    };
    await expect(runPlan({ ...h.ctx, lock }, plan(), { forward: {} })).rejects.toThrow('held by bob');
    expect(h.ran).toEqual([]);
  });

  const rehearse = (checks: { afterForward?: string[]; afterReverse?: string[] } = {}): RunMode => ({
    rehearse: {
      reverse: reverseSteps(STEPS),
      reason: 'rehearsal',
      afterForward: async () => checks.afterForward ?? [],
      afterReverse: async () => checks.afterReverse ?? [],
    },
  });

  it('rehearse: forward then the way back; it passes when both checks find nothing', async () => {
    const h = harness();
    const o = await runPlan(h.ctx, plan(), rehearse());
    expect(o).toMatchObject({ outcome: 'succeeded', problems: [] });
    expect(h.ran).toEqual(['lock', 'drain-a', 'smoke-a', 'undo-drain-a', 'undo-lock']);
    expect(events(o.journal).filter((e) => e === 'run-end')).toHaveLength(1);
  });

  it(
    'rehearse: a difference after forward fails it, ' + 'reversed; one left after the way back needs attention',
    async () => {
      expect(await runPlan(harness().ctx, plan(), rehearse({ afterForward: ['after forward: x'] }))).toMatchObject({
        outcome: 'reversed',
        problems: ['after forward: x'],
      });
      expect(await runPlan(harness().ctx, plan(), rehearse({ afterReverse: ['after reverse: y'] }))).toMatchObject({
        outcome: 'needs-attention',
        problems: ['after reverse: y'],
      });
    },
  );

  it('rehearse: refused before anything ran, no rehearsal took place and the run has no end', async () => {
    const h = harness((id) => (id === 'lock' ? new LockHeldError('held by bob') : undefined));
    await expect(runPlan(h.ctx, plan(), rehearse())).rejects.toThrow('held by bob');
  });

  it('closes the interrupted run it undid once it succeeds: a note and its run-end, in its journal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-runplan-'));
    const { config, issues } = parseConfig(
      `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb.test, backend: web }
record: { path: ${join(dir, 'record')} }
clusters:
  a: { internal: prod-a.test, hosts: [w1a] }
  b: { internal: prod-b.test, hosts: [w1b] }
`,
      join(dir, 'baton.yml'),
    );
    if (!config) throw new Error(issues.map((i) => i.message).join('; '));
    const earlier = join(journalDir(config), 'r0.jsonl');
    const h = harness();
    // The interrupted run's journal, as the killed process left it.
    await runPlan({ ...h.ctx, runsOf: config, run: 'r0' }, plan(STEPS.slice(0, 1)), { forward: {} });
    writeFileSync(
      earlier,
      readJournal(earlier)
        .filter((r) => r.event !== 'run-end')
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    const local = new LocalTransport('lb.test');
    const transports = { get: () => local, closeAll: async () => undefined };
    await runPlan(
      { ...h.ctx, runsOf: config, closes: { run: 'r0', note: 'rolled back by run r1', config, transports } },
      plan(),
      { forward: {} },
    );
    expect(readJournal(earlier).slice(-2)).toMatchObject([
      { event: 'note', message: 'rolled back by run r1' },
      { event: 'run-end', outcome: 'reversed' },
    ]);
  });
});
