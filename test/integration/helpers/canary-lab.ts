// What every canary lab case that expects a stop does: push under the file's load, end with exit 1,
// reversed at the first canary step, and read that step's record of what it counted from the journal.
import { expect } from 'vitest';
import { readJournal } from '../../../src/engine/journal.js';
import type { LoadReport } from '../../lab/load.js';

/** The push ran with `--json`: its stdout is one JSON document. */
interface Pushed {
  exitCode?: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * Runs `push` while `load` drives the public frontend; expects it stopped at canary-a-1 and reversed.
 * Returns what the clients saw, the error's message, and the failed step's `found` record(s).
 */
export async function stoppedAtFirstCanaryStep<Found>(
  load: () => { stop(): Promise<LoadReport> },
  push: () => Promise<Pushed>,
): Promise<{ report: LoadReport; message: string; found: Found[] }> {
  const running = load();
  const r = await push();
  const report = await running.stop();
  expect(r.exitCode, r.stderr).toBe(1);
  const error = JSON.parse(r.stdout).error as {
    message: string;
    result: { outcome: string; failedStep: string; journal: string };
  };
  expect(error.result).toMatchObject({ outcome: 'reversed', failedStep: 'canary-a-1' });
  const found = readJournal(error.result.journal).flatMap((e) =>
    e.event === 'step-fail' && e.step === 'canary-a-1' ? [e.found as unknown as Found] : [],
  );
  return { report, message: error.message, found };
}
