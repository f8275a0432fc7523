// The live task list: the traffic line beside the steps on a terminal, and nothing of it elsewhere.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ListrReporter } from '../../src/engine/listr-reporter.js';
import type { Step } from '../../src/model/plan.js';
import type { TrafficSample } from '../../src/engine/traffic.js';

const steps: Step[] = [{ id: 'drain-b', kind: 'drain', title: 'drain cluster b', undo: [] } as unknown as Step];
const sample = (sessions: number): TrafficSample => ({
  at: new Date().toISOString(),
  members: [
    { name: 'a1', cluster: 'a', state: 'ready', sessions: 7 },
    { name: 'b1', cluster: 'b', state: 'drain', sessions },
  ],
});
const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''); // eslint-disable-line no-control-regex

/** Resolves once `seen()` holds (checked every 20 ms) or after `ms`: listr2 draws on its own timer, late under load. */
async function until(seen: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !seen() && Date.now() < end;) await new Promise((res) => setTimeout(res, 20));
}

/** What `captured` has taken so far. */
let written = '';

/** Everything written to stdout and stderr while `body` runs, with stdout taken for a terminal or not. */
async function captured(tty: boolean, body: () => Promise<void>): Promise<string> {
  written = '';
  const grab = (chunk: unknown) => ((written += String(chunk)), true);
  const was = { isTTY: process.stdout.isTTY, columns: process.stdout.columns };
  Object.assign(process.stdout, { isTTY: tty, columns: 200 }); // wide: the line is not wrapped
  vi.spyOn(process.stdout, 'write').mockImplementation(grab);
  vi.spyOn(process.stderr, 'write').mockImplementation(grab);
  try {
    await body();
  } finally {
    vi.restoreAllMocks();
    Object.assign(process.stdout, was);
  }
  return strip(written);
}

describe('ListrReporter traffic', () => {
  afterEach(() => vi.restoreAllMocks());

  it('on a terminal, shows the latest line per cluster beside the steps', async () => {
    const out = await captured(true, async () => {
      const r = new ListrReporter(steps, { live: true });
      r.traffic(sample(3));
      await until(() => strip(written).includes('cluster b: 3 sessions'));
      r.traffic(sample(0));
      await until(() => strip(written).includes('cluster b: 0 sessions'));
      r.stepSucceeded(steps[0]!, 'forward');
      await r.finish();
    });
    expect(out).toContain('drain cluster b');
    expect(out).toContain('cluster a: 7 sessions, 1/1 in the pool · cluster b: 0 sessions, 0/1 in the pool (draining)');
  });

  it('on a terminal, a run without samples shows the steps alone', async () => {
    const out = await captured(true, async () => {
      const r = new ListrReporter(steps, { live: true });
      r.stepSucceeded(steps[0]!, 'forward');
      await r.finish();
    });
    expect(out).toContain('drain cluster b');
    expect(out.trim().split('\n').at(-1)).toContain('drain cluster b');
  });

  it('elsewhere, prints no traffic at all', async () => {
    const out = await captured(false, async () => {
      const r = new ListrReporter(steps, { live: false });
      r.traffic(sample(3));
      r.stepSucceeded(steps[0]!, 'forward');
      await r.finish();
    });
    expect(out).toContain('drain cluster b');
    expect(out).not.toContain('cluster a:');
  });
});
