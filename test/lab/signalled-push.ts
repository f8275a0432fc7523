// Start `baton push TAG` and act on it once its journal shows a number of steps done: send it
// signals (a CI job cancelled, Ctrl-C), cut a host off, or close its output. Returns how it ended.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../bench/repo-root.js';

export interface Ended {
  code: number | null;
  output: string;
  /** From the moment `act` was called to the process's exit. */
  secondsAfterAct: number;
  /** The run's journal lines (empty when it never wrote one). */
  journal: string[];
}

/** How many forward steps the journal shows done before the line that matches `mark` (all of them when none does). */
export function stepsDoneBefore(journal: string[], mark: RegExp): number {
  const at = journal.findIndex((l) => mark.test(l));
  return (at < 0 ? journal : journal.slice(0, at)).filter(isForwardOk).length;
}

const isForwardOk = (line: string) => line.includes('"event":"step-ok"') && line.includes('"phase":"forward"');

/** Push `tag` with `config`; once the new journal has `okSteps` steps done, call `act` with the child. */
export async function pushAndAct(
  config: string,
  tag: string,
  okSteps: number,
  act: (child: ChildProcess) => void | Promise<void>,
  opts: { user?: string; closeOutput?: boolean } = {},
): Promise<Ended> {
  const journals = join(dirname(config), '.baton', 'journal');
  const before = new Set(existsSync(journals) ? readdirSync(journals) : []);
  const child = spawn('node', [join(repoRoot(), 'bin/run.js'), 'push', tag, '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1', BATON_USER: opts.user ?? 'fault-test' },
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (d: Buffer) => {
      output += d.toString();
      // A reader that goes away after the first line: `baton push | head -1`.
      if (opts.closeOutput) stream.destroy();
    });
  }
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  const journal = () => {
    const file = (existsSync(journals) ? readdirSync(journals) : []).find(
      (f) => f.endsWith('.jsonl') && !before.has(f),
    );
    return file ? readFileSync(join(journals, file), 'utf8').split('\n') : [];
  };
  for (;;) {
    const done = journal().filter(isForwardOk).length;
    if (done >= okSteps || child.exitCode !== null) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`push never reached ${okSteps} steps`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const acted = performance.now();
  if (child.exitCode === null) await act(child);
  const timeout = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await exited;
  clearTimeout(timeout);
  return { code, output, secondsAfterAct: (performance.now() - acted) / 1000, journal: journal() };
}
