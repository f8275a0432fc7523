// Start `baton push TAG` and SIGKILL it once its journal shows a number of steps done: a run
// killed at a step boundary, for the recovery tests.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Push `tag` with `config` and SIGKILL it once the new journal (beside the config) has `okSteps` steps done. */
export async function killedPush(config: string, tag: string, okSteps: number, user = 'recovery-test'): Promise<void> {
  const journals = join(dirname(config), '.baton', 'journal');
  const before = new Set(existsSync(journals) ? readdirSync(journals) : []);
  const child = spawn('node', ['bin/run.js', 'push', tag, '-c', config], {
    stdio: 'ignore',
    env: { ...process.env, CI: '1', BATON_USER: user },
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const file = (existsSync(journals) ? readdirSync(journals) : []).find(
      (f) => f.endsWith('.jsonl') && !before.has(f),
    );
    const done = file
      ? readFileSync(join(journals, file), 'utf8')
          .split('\n')
          .filter((l) => l.includes('"event":"step-ok"')).length
      : 0;
    if (done >= okSteps) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`push never reached ${okSteps} steps`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  await exited;
}
