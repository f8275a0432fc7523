// Hooks, with real scripts written to a temp dir and run by the one runner: the order they run
// in, the facts they get (variables and the event on stdin), a before-lock hook refusing the run,
// a hook past its time limit killed with everything it started, and an after-* hook that fails
// leaving the outcome as it was.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/config.js';
import type { StepRunner } from '../../src/engine/executor.js';
import { readJournal } from '../../src/engine/journal.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import { runHooksFor } from '../../src/engine/run-hooks.js';
import { runPlan, type RunContext, type RunMode } from '../../src/engine/run-plan.js';
import { exitCodeFor, ExitCode, PlanRefusedError } from '../../src/errors.js';
import { reverseSteps, type Step } from '../../src/model/plan.js';
import { TWO_CLUSTER_STEPS } from '../helpers/loose-steps.js';
import { runHookProcess } from '../../src/transport/hook-process.js';

const MINIMAL = readFileSync(join(import.meta.dirname, '../fixtures/config/valid/minimal.yml'), 'utf8');

const STEPS = TWO_CLUSTER_STEPS;
const PLAN = { release: { tag: 'v2', commit: 'c'.repeat(40), dir: 'v2-cccccccc' }, hash: 'sha256:abc' };

/** A folder with baton.yml (these hooks) and a log every hook and step appends to, in order. */
function setup(hooksYaml: string, scripts: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-hooks-'));
  const log = join(dir, 'log');
  writeFileSync(log, '');
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  const { config, issues } = parseConfig(`${MINIMAL}${hooksYaml}`, join(dir, 'baton.yml'));
  expect(issues).toEqual([]);
  return { dir, log, config: config as Config, lines: () => readFileSync(log, 'utf8').trim().split('\n') };
}

// Each hook says who it is, what it was told, and what stdin said.
const RECORD =
  'echo "hook $BATON_EVENT cluster=${BATON_CLUSTER:-} tag=$BATON_TAG app=$BATON_APP release=$BATON_RELEASE' +
  ' plan=$BATON_PLAN_HASH run=$BATON_RUN outcome=${BATON_OUTCOME:-} rehearsal=${BATON_REHEARSAL:-0}" >> log\n' +
  'cat > "stdin-$BATON_EVENT${BATON_CLUSTER:-}.json"';

function run(
  s: ReturnType<typeof setup>,
  opts: { fail?: (id: string) => boolean; message?: string; mode?: RunMode; rehearsal?: boolean; steps?: Step[] } = {},
) {
  const reporter = new SilentReporter();
  const lock = {
    acquire: async () => undefined,
    release: async () => true,
    renew: async () => undefined,
    beat: async () => undefined,
  } as unknown as ReleaseLock;
  const stepRunner = (): StepRunner => async (st) => {
    writeFileSync(s.log, `step ${st.id}\n`, { flag: 'a' });
    if (opts.fail?.(st.id)) throw new Error(opts.message ?? `${st.id} broke`);
    return undefined;
  };
  const ctx: RunContext = {
    runsOf: s.dir,
    run: 'r1',
    reporter,
    lock: { lock, leaseMs: 60_000 },
    stepRunner,
    hooks: runHooksFor(s.config, PLAN, opts.rehearsal ? 'rehearse' : 'push', { rehearsal: Boolean(opts.rehearsal) }),
  };
  const steps = opts.steps ?? STEPS;
  const started = Date.now();
  return {
    reporter,
    outcome: runPlan(
      ctx,
      { command: 'push', hash: PLAN.hash, tag: 'v2', by: 'ci', steps },
      opts.mode ?? { forward: {} },
    ),
    started,
  };
}

const ALL_HOOKS = `hooks:
  before-lock: ./record
  after-activate: ./record
  after-flip: ./record
  after-success: ./record
  after-reversal: ./record
  needs-attention: ./record
`;

describe('hooks in a run', () => {
  it('run in order between the steps, with the run in BATON_* variables and the event as JSON on stdin', async () => {
    const s = setup(ALL_HOOKS, { record: RECORD });
    const o = await run(s).outcome;
    expect(o.outcome).toBe('succeeded');
    const order = s.lines().map((l) => l.split(' ').slice(0, 3).join(' '));
    expect(order).toEqual([
      'hook before-lock cluster=',
      'step lock',
      'step drain-a',
      'step smoke-a',
      'hook after-activate cluster=a',
      'step ready-a',
      'hook after-flip cluster=a',
      'step drain-b',
      'step smoke-b',
      'hook after-activate cluster=b',
      'step ready-b',
      'step unlock',
      'hook after-success cluster=',
    ]);
    expect(s.lines()[0]).toBe(
      'hook before-lock cluster= tag=v2 app=shop release=v2-cccccccc plan=sha256:abc run=r1 outcome= rehearsal=0',
    );
    expect(s.lines().at(-1)).toContain('outcome=succeeded');
    const stdin = JSON.parse(readFileSync(join(s.dir, 'stdin-after-activateb.json'), 'utf8'));
    expect(stdin).toMatchObject({
      v: 1,
      event: 'after-activate',
      app: 'shop',
      kind: 'push',
      command: 'push',
      tag: 'v2',
      release: 'v2-cccccccc',
      plan: 'sha256:abc',
      run: 'r1',
      journal: o.journal,
      cluster: 'b',
      rehearsal: false,
    });
    expect(stdin.summary).toBe('shop: push of v2: cluster b is activated and passed its smoke checks');
    // Their output is in the journal, before the run's end.
    const notes = readJournal(o.journal).map((r) => (r.event === 'note' ? r.message : r.event));
    expect(notes.filter((n) => /^hook after-activate \(cluster b\): exit 0 in \d+\.\d\d s$/.test(n))).toHaveLength(1);
    expect(notes.at(-1)).toBe('run-end');
  });

  it('a failed step: after-reversal, with the outcome; a reversal that fails too: needs-attention', async () => {
    const s = setup(ALL_HOOKS, { record: RECORD });
    const o = await run(s, { fail: (id) => id === 'smoke-b' }).outcome;
    expect(o.outcome).toBe('reversed');
    expect(
      s
        .lines()
        .filter((l) => l.startsWith('hook'))
        .map((l) => l.split(' ').slice(0, 3).join(' ')),
    ).toEqual([
      'hook before-lock cluster=',
      'hook after-activate cluster=a',
      'hook after-flip cluster=a',
      'hook after-reversal cluster=',
    ]);
    expect(s.lines().at(-1)).toContain('outcome=reversed');
    const stdin = JSON.parse(readFileSync(join(s.dir, 'stdin-after-reversal.json'), 'utf8'));
    expect(stdin).toMatchObject({ outcome: 'reversed', failedStep: 'smoke-b', error: 'smoke-b broke' });
    expect(stdin.summary).toBe(
      'shop: push of v2 was reversed (smoke-b failed: smoke-b broke); production is back where it started',
    );

    const t = setup(ALL_HOOKS, { record: RECORD });
    const broken = await run(t, {
      fail: (id) => id === 'smoke-b' || id === 'undo-ready-a',
      message: '2 of 2 hosts failed:\n  h1: refused\n  h2: refused',
    }).outcome;
    expect(broken.outcome).toBe('needs-attention');
    expect(t.lines().at(-1)).toMatch(/^hook needs-attention .*outcome=needs-attention/);
    // Its summary is one line, though the error is several; the whole error is in the event.
    const attention = JSON.parse(readFileSync(join(t.dir, 'stdin-needs-attention.json'), 'utf8'));
    expect(attention.summary).toBe(
      'shop: push of v2 needs attention (smoke-b failed: 2 of 2 hosts failed): its reversal did not finish',
    );
  });

  it('a before-lock hook exiting nonzero refuses the run: no step, exit 3, output in error and journal', async () => {
    const s = setup('hooks:\n  before-lock: [./freeze, --why]\n', {
      freeze: 'echo "deploy freeze until Monday ($1)"; exit 1',
    });
    const o = await run(s).outcome;
    expect(o).toMatchObject({ outcome: 'reversed', productionChanged: false, completed: [], failedStep: 'lock' });
    expect(s.lines()).toEqual(['']);
    expect(o.error).toBeInstanceOf(PlanRefusedError);
    expect(o.error?.message).toBe(
      'the before-lock hook refused the run (exit 1):\n  deploy freeze until Monday (--why)',
    );
    expect(exitCodeFor(o.error)).toBe(ExitCode.PLAN_REFUSED);
    const journal = readJournal(o.journal).map((r) => (r.event === 'note' ? r.message : r.event));
    expect(journal).toContain('hook before-lock| deploy freeze until Monday (--why)');
    expect(journal.filter((e) => e.startsWith('step-'))).toEqual([]);
  });

  it('a hook past its limit is killed with every process it started; as before-lock, it refuses the run', async () => {
    const s = setup('hooks:\n  before-lock: { run: ./slow, timeout: 300ms }\n', {
      slow: 'sleep 30 & echo $! > child.pid\necho waiting\nwait',
    });
    const r = run(s);
    const o = await r.outcome;
    expect(Date.now() - r.started).toBeLessThan(5_000);
    expect(o.error?.message).toMatch(/^the before-lock hook refused the run \(timed out after 0\.3 s/);
    expect(exitCodeFor(o.error)).toBe(ExitCode.PLAN_REFUSED);
    const child = Number(readFileSync(join(s.dir, 'child.pid'), 'utf8'));
    expect(alive(child)).toBe(false);
  });

  it('an after-* hook failing or timing out is reported and journaled; the outcome is unchanged', async () => {
    const s = setup(
      'hooks:\n  after-activate: "echo cache cold >&2; exit 7"\n' +
        '  after-flip: { run: "sleep 20", timeout: 200ms }\n  after-success: ./record\n',
      { record: RECORD },
    );
    const r = run(s);
    const o = await r.outcome;
    expect(o.outcome).toBe('succeeded');
    expect(o.completed).toEqual(STEPS.map((x) => x.id));
    expect(s.lines().at(-1)).toMatch(/^hook after-success /);
    const warnings = r.reporter.events.filter((e) => e.startsWith('notice:'));
    expect(warnings).toEqual([
      'notice:hook after-activate failed (exit 7): cache cold; the run goes on as it was',
      'notice:hook after-flip failed (timed out after 0.2 s (its process group was killed)); the run goes on as it was',
      'notice:hook after-activate failed (exit 7): cache cold; the run goes on as it was',
    ]);
    const notes = readJournal(o.journal).flatMap((x) => (x.event === 'note' ? [x.message] : []));
    expect(notes.filter((n) => n.includes('failed'))).toHaveLength(3);
  });

  it('run in a rehearsal too, with BATON_REHEARSAL=1', async () => {
    const s = setup(ALL_HOOKS, { record: RECORD });
    const forward = STEPS.slice(0, 3);
    const o = await run(s, {
      rehearsal: true,
      steps: forward,
      mode: {
        rehearse: {
          reverse: reverseSteps(forward),
          reason: 'rehearsal',
          afterForward: async () => [],
          afterReverse: async () => [],
        },
      },
    }).outcome;
    expect(o.outcome).toBe('succeeded');
    const hooks = s.lines().filter((l) => l.startsWith('hook'));
    expect(hooks.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      'hook before-lock',
      'hook after-activate',
      'hook after-success',
    ]);
    expect(hooks.every((l) => l.endsWith('rehearsal=1'))).toBe(true);
  });

  it('a resumed run whose flip was done before (push --continue) has no second after-flip', async () => {
    const s = setup(ALL_HOOKS, { record: RECORD });
    const reporter = new SilentReporter();
    const lock = { acquire: async () => undefined, release: async () => true } as unknown as ReleaseLock;
    const o = await runPlan(
      {
        runsOf: s.dir,
        run: 'r1',
        reporter,
        lock: { lock, leaseMs: 60_000 },
        stepRunner: () => async () => undefined,
        hooks: runHooksFor(s.config, { ...PLAN, forward: STEPS }, 'resume'),
      },
      { command: 'resume', hash: PLAN.hash, tag: 'v2', by: 'ci', steps: STEPS },
      { resume: { alreadyDone: STEPS.slice(0, 4), remaining: STEPS.slice(4) } },
    );
    expect(o.outcome).toBe('succeeded');
    expect(s.lines().map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual([
      'hook after-activate cluster=b',
      'hook after-success cluster=',
    ]);
  });

  it('a rollback is never refused by before-lock (a freeze must not stand in the way back)', async () => {
    const s = setup('hooks:\n  before-lock: "exit 1"\n');
    const hooks = runHooksFor(s.config, { ...PLAN, kind: 'rollback' }, 'rollback')!;
    const journal = { file: join(s.dir, 'j'), append: () => undefined } as never;
    await expect(hooks({ id: 'r', journal, notice: () => undefined }).beforeStep(STEPS[0]!)).resolves.toBeUndefined();
  });
});

describe('a hook process', () => {
  it('keeps only the tail of a chatty hook, and says how many lines it dropped', async () => {
    const r = await runHookProcess({
      run: 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done',
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      input: '',
      timeoutMs: 10_000,
    });
    expect(r.exitCode).toBe(0);
    expect(r.output).toHaveLength(40);
    expect(r.output.at(-1)).toBe('line 4999');
    expect(r.droppedLines).toBe(4960);
  });

  it('a program that does not exist could not start; it is not a crash', async () => {
    const r = await runHookProcess({ run: ['./nope'], cwd: tmpdir(), env: {}, input: '', timeoutMs: 1_000 });
    expect(r.exitCode).toBeNull();
    expect(r.startError).toMatch(/ENOENT/);
  });

  it('gets only the environment it is given, and its input on stdin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-hookenv-'));
    const r = await runHookProcess({
      run: ['/bin/sh', '-c', 'env | sort > env.txt; cat > in.txt'],
      cwd: dir,
      env: { BATON_TAG: 'v2; rm -rf /', PATH: '/usr/bin:/bin' },
      input: '{"event":"x"}',
      timeoutMs: 5_000,
    });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'env.txt'), 'utf8')).toContain('BATON_TAG=v2; rm -rf /\n');
    expect(readFileSync(join(dir, 'env.txt'), 'utf8')).not.toContain('HOME=');
    expect(readFileSync(join(dir, 'in.txt'), 'utf8')).toBe('{"event":"x"}');
    expect(existsSync(join(dir, 'env.txt'))).toBe(true);
  });
});

// A killed process may linger as a zombie until PID 1 reaps it: that is dead too.
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
