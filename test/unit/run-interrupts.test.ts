// The run owns stop signals and knows whether production has changed: the first signal finishes
// the current step (a wait ends at once) and reverses; the second stops at once with the exit code
// by effect; outside a run a signal ends the process with 1. Exit codes follow what happened.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hintFor } from '../../src/cli/base-command.js';
import { raiseForOutcome } from '../../src/cli/run-plan.js';
import { execute, type StepRunner } from '../../src/engine/executor.js';
import { abortableSleep, InterruptedError, Interrupts } from '../../src/engine/interrupts.js';
import { Journal, readJournal } from '../../src/engine/journal.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import {
  BugError,
  ExitCode,
  exitCodeFor,
  ExternalCommandError,
  LockHeldError,
  OperationFailedError,
} from '../../src/errors.js';
import type { Step } from '../../src/model/plan.js';
import { anyFieldsStep } from '../helpers/loose-steps.js';
import type { ApplyResult } from '../../src/release/carry-out.js';

const step = anyFieldsStep;
const PLAN: Step[] = [
  step('lock', 'lock', [step('undo-lock', 'unlock')]),
  step('drain-a', 'drain', [step('undo-drain-a', 'ready')]),
  step('wait-drain-a', 'wait-drain'),
  step('activate-a', 'activate', [step('undo-activate-a', 'activate')]),
  step('smoke-a', 'smoke'),
];

function harness(onStep: (id: string, signal?: AbortSignal) => Promise<void> = async () => undefined) {
  const exits: number[] = [];
  const said: string[] = [];
  const interrupts = new Interrupts(
    (c) => void exits.push(c),
    (l) => void said.push(l),
  );
  const journal = new Journal(mkdtempSync(join(tmpdir(), 'baton-int-')), 'run1');
  const ran: string[] = [];
  const run: StepRunner = async (s, _p, signal) => {
    ran.push(s.id);
    await onStep(s.id, signal);
    return undefined;
  };
  return { exits, said, interrupts, journal, ran, run, reporter: new SilentReporter() };
}

describe('stop signals during a run', () => {
  it('the first lets the current step finish, starts no other, and reverses what ran', async () => {
    const h = harness(async (id) => {
      if (id === 'activate-a') {
        h.interrupts.deliver('SIGTERM');
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    const r = await execute({
      steps: PLAN,
      run: h.run,
      journal: h.journal,
      reporter: h.reporter,
      interrupts: h.interrupts,
    });
    expect(h.ran).toEqual([
      'lock',
      'drain-a',
      'wait-drain-a',
      'activate-a',
      'undo-activate-a',
      'undo-drain-a',
      'undo-lock',
    ]);
    expect(r).toMatchObject({
      outcome: 'reversed',
      failedStep: 'smoke-a',
      interruptedBy: 'SIGTERM',
      productionChanged: true,
      completed: ['lock', 'drain-a', 'wait-drain-a', 'activate-a'],
    });
    expect(r.error).toBeInstanceOf(InterruptedError);
    expect(h.exits).toEqual([]);
    const notes = readJournal(h.journal.file)
      .filter((e) => e.event === 'note')
      .map((e) => (e as { message: string }).message);
    expect(notes).toEqual([
      'SIGTERM received during activate-a: finishing the current step, then reversing what this run changed',
      'smoke-a not started: interrupted by SIGTERM',
    ]);
    expect(() => raiseForOutcome(result(r))).toThrow(/stopped by SIGTERM at smoke-a; what it changed was reversed/);
  });

  it('a step that only waits ends at once on the first signal', async () => {
    const h = harness(async (id, signal) => {
      if (id === 'wait-drain-a') {
        setTimeout(() => h.interrupts.deliver('SIGINT'), 10);
        await abortableSleep(60_000, signal);
      }
    });
    const t0 = Date.now();
    const r = await execute({
      steps: PLAN,
      run: h.run,
      journal: h.journal,
      reporter: h.reporter,
      interrupts: h.interrupts,
    });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r).toMatchObject({ outcome: 'reversed', failedStep: 'wait-drain-a', interruptedBy: 'SIGINT' });
    expect(h.ran).toEqual(['lock', 'drain-a', 'wait-drain-a', 'undo-drain-a', 'undo-lock']);
  });

  it(
    'a signal during the reversal does not stop it; ' + 'a second one stops at once with 2 once production changed',
    async () => {
      const h = harness(async (id) => {
        if (id === 'smoke-a') throw new Error('smoke failed');
        if (id === 'undo-activate-a') h.interrupts.deliver('SIGINT');
      });
      const r = await execute({
        steps: PLAN,
        run: h.run,
        journal: h.journal,
        reporter: h.reporter,
        interrupts: h.interrupts,
      });
      expect(r.outcome).toBe('reversed');
      expect(h.ran.slice(-3)).toEqual(['undo-activate-a', 'undo-drain-a', 'undo-lock']);
      expect(h.exits).toEqual([]);

      const h2 = harness(async (id) => {
        if (id === 'activate-a') {
          h2.interrupts.deliver('SIGINT');
          h2.interrupts.deliver('SIGINT');
        }
      });
      await execute({
        steps: PLAN,
        run: h2.run,
        journal: h2.journal,
        reporter: h2.reporter,
        interrupts: h2.interrupts,
      });
      expect(h2.exits).toEqual([ExitCode.NEEDS_ATTENTION]);
      expect(
        h2.reporter.events.some(
          (e) => /stopped at once by a second SIGINT during activate-a/.test(e) && /baton resume/.test(e),
        ),
      ).toBe(true);
    },
  );

  it('a second signal before anything in production changed stops with 1', async () => {
    const h = harness(async (id) => {
      if (id === 'lock') {
        h.interrupts.deliver('SIGHUP');
        h.interrupts.deliver('SIGHUP');
      }
    });
    await execute({ steps: PLAN, run: h.run, journal: h.journal, reporter: h.reporter, interrupts: h.interrupts });
    expect(h.exits).toEqual([ExitCode.FAILED_RESTORED]);
  });

  it('outside a run a signal ends the process with 1 and says nothing changed', () => {
    const h = harness();
    h.interrupts.deliver('SIGTERM');
    expect(h.exits).toEqual([1]);
    expect(h.said[0]).toMatch(/SIGTERM received before anything in production changed/);
  });

  it("after a run's steps a signal lets its record finish, the exit follows the outcome; a second exits", async () => {
    const h = harness();
    await execute({ steps: PLAN, run: h.run, journal: h.journal, reporter: h.reporter, interrupts: h.interrupts });
    h.interrupts.deliver('SIGTERM');
    expect(h.exits, 'the first signal waits for the run to end by itself').toEqual([]);
    expect(h.said[0]).toMatch(
      /SIGTERM received after the run's steps ended \(succeeded\): finishing its record, then exiting 0/,
    );
    expect(h.said.join('\n')).not.toMatch(/before anything in production changed/);
    h.interrupts.deliver('SIGTERM');
    expect(h.exits).toEqual([ExitCode.OK]);
  });

  it('a signal after a reversed run exits 1 at the second, never claiming the run changed nothing', async () => {
    const h = harness(async (id) => {
      if (id === 'activate-a') h.interrupts.deliver('SIGINT');
    });
    const r = await execute({
      steps: PLAN,
      run: h.run,
      journal: h.journal,
      reporter: h.reporter,
      interrupts: h.interrupts,
    });
    expect(r.outcome).toBe('reversed');
    h.interrupts.deliver('SIGINT');
    expect(h.exits).toEqual([ExitCode.FAILED_RESTORED]);
    expect(h.said.at(-1)).toMatch(/stopped at once by a second SIGINT; the run's steps had ended \(reversed\)/);
  });

  it('a new run forgets how the last one ended', async () => {
    const h = harness();
    await execute({ steps: PLAN, run: h.run, journal: h.journal, reporter: h.reporter, interrupts: h.interrupts });
    const leave = h.interrupts.enter({ first: () => undefined, second: () => 7 });
    leave();
    h.interrupts.deliver('SIGTERM');
    expect(h.exits).toEqual([ExitCode.NEEDS_ATTENTION]);
    expect(h.said.at(-1)).toMatch(/after a run of this process changed production; stopping \(see baton status\)/);
  });
});

describe('exit codes by what happened to production', () => {
  it('a failure before any step that changes production is "nothing changed", exit 1', async () => {
    const h = harness(async (id) => {
      if (id === 'lock') throw new ExternalCommandError('lb', ['sh'], 255, 'connection refused');
    });
    const r = await execute({
      steps: PLAN,
      run: h.run,
      journal: h.journal,
      reporter: h.reporter,
      interrupts: h.interrupts,
    });
    expect(r.productionChanged).toBe(false);
    let thrown: unknown;
    try {
      raiseForOutcome(result(r));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(OperationFailedError);
    expect((thrown as OperationFailedError).exitCode).toBe(1);
    expect((thrown as Error).message).toMatch(/nothing in production had changed/);
  });

  it('a refusal keeps its own code (a held lock is 4)', async () => {
    const h = harness(async (id) => {
      if (id === 'lock') throw new LockHeldError('held by someone');
    });
    const r = await execute({
      steps: PLAN,
      run: h.run,
      journal: h.journal,
      reporter: h.reporter,
      interrupts: h.interrupts,
    });
    expect(() => raiseForOutcome(result(r))).toThrow(LockHeldError);
  });

  it(
    'a clean-up that fails (a staged release on an unreachable host) ' + 'does not keep the pool from being made whole',
    async () => {
      const plan = [
        PLAN[0] as Step,
        PLAN[1] as Step,
        step('stage', 'stage', [step('undo-stage', 'unstage')]),
        ...PLAN.slice(2),
      ];
      const h = harness(async (id) => {
        if (id === 'stage' || id === 'undo-stage') throw new Error(`${id}: lost the connection to h1`);
      });
      const r = await execute({
        steps: plan,
        run: h.run,
        journal: h.journal,
        reporter: h.reporter,
        interrupts: h.interrupts,
      });
      expect(r.outcome).toBe('reversed');
      expect(h.ran).toEqual(['lock', 'drain-a', 'stage', 'undo-stage', 'undo-drain-a', 'undo-lock']);
      expect(h.reporter.events).toContain(
        'notice:left behind: undo-stage failed (undo-stage: lost the connection to h1); the reversal goes on',
      );
    },
  );

  it('a reversal that fails is 2', async () => {
    const h = harness(async (id) => {
      if (id === 'smoke-a' || id === 'undo-activate-a') throw new Error(`${id} broke`);
    });
    const r = await execute({
      steps: PLAN,
      run: h.run,
      journal: h.journal,
      reporter: h.reporter,
      interrupts: h.interrupts,
    });
    expect(r.outcome).toBe('needs-attention');
    expect(() => raiseForOutcome(result(r))).toThrow(expect.objectContaining({ exitCode: 2 }) as unknown as Error);
  });

  it('an unreachable host or a bug outside a run is 1 while nothing in production changed', () => {
    const e = new ExternalCommandError('lb', ['cat'], 255, 'no route to host');
    expect(exitCodeFor(e, false)).toBe(1);
    expect(hintFor(e, exitCodeFor(e, false))).toMatch(/nothing in production was changed/);
    expect(exitCodeFor(new BugError(new Error('x')), false)).toBe(1);
    expect(exitCodeFor(new BugError(new Error('x')), true)).toBe(2);
    expect(exitCodeFor(new OperationFailedError('reversal failed', 'partway'), false)).toBe(2);
  });
});

function result(r: Awaited<ReturnType<typeof execute>>): ApplyResult {
  return { ...r, kind: 'push', run: 'run1', journal: 'j', tag: 'v2', commit: 'c', release: 'v2-c' };
}
