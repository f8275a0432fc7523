// A reader that goes away (`baton push v1 2>&1 | head -2`) never stops a run, and an error nothing
// caught ends as one line and exit 2. Runs the built CLI and small scripts on the built modules.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What the reader got before it went away. */
  read: string;
}

/** Runs node with stdout and stderr both piped into one reader that closes them after the first chunk
 *  (`2>&1 | head -1`), or before anything arrives when `closeAtOnce`. */
function runWithClosingReader(args: string[], closeAtOnce = false): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let read = '';
    const close = () => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    for (const s of [child.stdout, child.stderr]) {
      s.once('data', (d: Buffer) => {
        read += d.toString();
        close();
      });
    }
    if (closeAtOnce) close();
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, read }));
  });
}

const BIN = join(ROOT, 'bin/run.js');
/** Node evaluating an ES module in the project root (imports resolve against dist/). */
const script = (source: string) => ['--input-type=module', '-e', source];

describe('a closed output pipe', { timeout: 60_000 }, () => {
  const cases: Array<[string[], number]> = [
    [['--help'], 0],
    [['schema'], 0],
    [['schema', '--markdown'], 0],
    [['exit-codes'], 0],
    [['validate', '-c', 'test/fixtures/config/valid/apache.yml'], 0],
    [['valdate'], 64],
    [['validate', '--no-such-flag'], 64],
  ];
  for (const [args, expected] of cases) {
    it(`\`baton ${args.join(' ')}\` still exits ${expected}, closed after the first chunk or before any`, async () => {
      for (const closeAtOnce of [false, true]) {
        const r = await runWithClosingReader([BIN, ...args], closeAtOnce);
        expect({ code: r.code, signal: r.signal }).toEqual({ code: expected, signal: null });
        expect(r.read).not.toMatch(/EPIPE|internal error/);
      }
    });
  }

  it('does not stop a run whose reporter writes step lines after the reader went away', async () => {
    // PlainReporter's default writer is what `baton push` in CI writes with: one line per event, across ticks.
    const r = await runWithClosingReader(
      script(`
        import { PlainReporter } from './dist/src/engine/reporter.js';
        const reporter = new PlainReporter();
        for (let i = 0; i < 5; i++) {
          reporter.stepStarted({ id: 's' + i, title: 'step ' + i }, 'forward');
          await new Promise((r) => setTimeout(r, 20));
          reporter.stepSucceeded({ id: 's' + i, title: 'step ' + i }, 'forward', 20);
        }
        process.exitCode = 7; // reached the end
      `),
    );
    expect(r.read).toMatch(/step s0: step 0/);
    expect(r.code).toBe(7);
  });
});

describe('the safety net', { timeout: 60_000 }, () => {
  const withNet = (body: string, env: Record<string, string> = {}) =>
    execa(
      'node',
      script(`import { installSafetyNet } from './dist/src/cli/safety-net.js'; installSafetyNet(); ${body}`),
      { cwd: ROOT, reject: false, env },
    );

  // A run of this process that began a step changing production (the executor's RunControl registers so).
  const changed =
    `import { processInterrupts } from './dist/src/engine/interrupts.js'; processInterrupts.enter({ first() ` +
    '{}, second: () => 2, productionChanged: () => true });';

  it(
    'turns an uncaught exception into one line, ' + 'without a stack: exit 1 while nothing in production changed',
    async () => {
      const r = await withNet(`setTimeout(() => { throw new Error('boom'); }, 5);`);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^baton: internal error: boom\nHint: .*report it.*nothing in production was changed/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    },
  );

  it('turns an unhandled rejection after production changed into exit 2, even if the run then ends well', async () => {
    const r = await withNet(
      `${changed} Promise.reject(new Error('lost')); setTimeout(() => { process.exitCode = 0; }, 20);`,
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('production may be part-way');
    expect(r.stderr).toContain('baton: internal error: lost');
  });

  it('shows the stack with BATON_DEBUG=1', async () => {
    const r = await withNet(`${changed} setTimeout(() => { throw new Error('boom'); }, 5);`, { BATON_DEBUG: '1' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  it('ignores a closed output pipe', async () => {
    const r = await withNet(
      `setTimeout(() => { throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }); }, 5);`,
    );
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
  });
});

describe('an internal error in a command', { timeout: 60_000 }, () => {
  // A command whose run() has a bug, caught by BatonCommand as every command's error is.
  const buggy = (env: Record<string, string> = {}) =>
    execa(
      'node',
      script(
        `import { BatonCommand } from './dist/src/cli/base-command.js';
        class Buggy extends BatonCommand { async run() { const tag = undefined; return tag.includes('v'); } }
        await Buggy.run([], { root: process.cwd() }).catch(() => undefined);`,
      ),
      { cwd: ROOT, reject: false, env: { NO_COLOR: '1', ...env } },
    );

  it('is one line and a hint naming BATON_DEBUG, without a stack', async () => {
    const r = await buggy();
    expect(r.stderr).toMatch(
      new RegExp(
        /^Error: internal error: Cannot read properties of undefined \(reading 'includes'\)\nHint: this is /.source +
          /a bug in baton: .*BATON_DEBUG=1 adds the stack/.source,
      ),
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('with BATON_DEBUG=1 is followed by the stack of what went wrong', async () => {
    const r = await buggy({ BATON_DEBUG: '1' });
    expect(r.stderr).toMatch(/^Error: internal error: Cannot read properties of undefined/);
    expect(r.stderr).toMatch(
      /^TypeError: Cannot read properties of undefined \(reading 'includes'\)\n\s+at Buggy\.run /m,
    );
  });
});
