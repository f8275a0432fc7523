// A reader that goes away (`baton push v1 2>&1 | head -2`) never stops a run. Runs the built CLI
// and a small script on the built modules.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
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
    const child = spawn('node', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
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
