// The run event stream against real runs in the lab: a pipeline follows a push, a reversed push
// and a rollback line by line on stdout, every line valid against the published schema, the
// result last with the exit code the command ends with.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { RunEvent } from '../../src/engine/events.js';
import { readyAllHaproxyMembers } from './helpers/lab.js';

let config: string;

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', config, '--format', 'jsonl'], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'events-test' },
  });
}

/** Every stdout line as an event checked against the schema; steps begin before they end. */
function stream(stdout: string): RunEvent[] {
  const events = stdout
    .trim()
    .split('\n')
    .map((line) => RunEvent.parse(JSON.parse(line)));
  const open = new Set<string>();
  for (const e of events) {
    if (e.event === 'step-begin') open.add(`${e.phase}:${e.step}`);
    if (e.event === 'step-ok' || e.event === 'step-fail')
      expect(open.has(`${e.phase}:${e.step}`), `${e.step} ended before it began`).toBe(true);
  }
  expect(events.at(-1)?.event).toBe('result');
  expect(events.filter((e) => e.event === 'result')).toHaveLength(1);
  return events;
}

beforeAll(() => {
  readyAllHaproxyMembers();
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-events-')), 'baton.yml'));
});

describe('--format jsonl', () => {
  it('streams a push from run-begin to the result, every forward step begun and ended', async () => {
    // Forced: a push of the release the lab already runs would be "No changes", with no run to stream.
    const r = await baton('push', 'v2', '--force', 'events test: a whole run to stream');
    expect(r.exitCode, r.stderr).toBe(0);
    const events = stream(r.stdout);
    const begin = events[0];
    expect(begin).toMatchObject({ event: 'run-begin', kind: 'push', tag: 'v2' });
    const planned = begin?.event === 'run-begin' ? begin.steps : [];
    expect(
      events.filter((e) => e.event === 'step-ok' && e.phase === 'forward').map((e) => (e as { step: string }).step),
    ).toEqual(planned);
    expect(events.at(-1)).toMatchObject({ event: 'result', exitCode: 0, result: { outcome: 'succeeded', tag: 'v2' } });
  });

  it(
    'streams a push that fails its smoke check and reverses: the failed step, the reversal, the undo steps, ' +
      'exit 1 last',
    async () => {
      const r = await baton('push', 'v3-broken');
      expect(r.exitCode, r.stderr).toBe(1);
      const events = stream(r.stdout);
      const failed = events.find((e) => e.event === 'step-fail');
      expect(failed).toMatchObject({ phase: 'forward' });
      const reversal = events.findIndex((e) => e.event === 'reversal');
      expect(reversal).toBeGreaterThan(events.indexOf(failed as RunEvent));
      expect(events.slice(reversal).some((e) => e.event === 'step-ok' && e.phase === 'reverse')).toBe(true);
      expect(events.at(-1)).toMatchObject({
        event: 'result',
        exitCode: 1,
        error: { exitCode: 1, result: { outcome: 'reversed' } },
      });
    },
  );

  it('streams a rollback, and a refusal is still one result line', async () => {
    const r = await baton('rollback', '--yes');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(stream(r.stdout).at(-1)).toMatchObject({ event: 'result', exitCode: 0, result: { kind: 'rollback' } });
    const refused = await execa('node', ['bin/run.js', 'rollback', '-c', config, '--format', 'jsonl'], {
      reject: false,
      env: { CI: '1' },
    });
    expect(refused.exitCode).toBe(64);
    expect(stream(refused.stdout)).toEqual([
      expect.objectContaining({
        event: 'result',
        exitCode: 64,
        error: expect.objectContaining({ message: expect.stringMatching(/no terminal/) }),
      }),
    ]);
  });
});
