import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalDir } from '../../src/engine/journal.js';
import { reportData, ratesFrom, rowsOfStep } from '../../src/report/report-data.js';
import { selectRun } from '../../src/report/select-run.js';
import { reportHtml } from '../../src/render/report-html.js';
import { UserError } from '../../src/errors.js';
import { pushFixture, reversedFixture } from '../helpers/report-fixtures.js';

describe('report data', () => {
  it('says what moved where, what the balancer counted, the pool, preflight, and who each approval verifies as', () => {
    const f = pushFixture();
    const plan = {
      ...f.plan,
      observed: {
        ...f.plan.observed,
        hosts: [
          { host: 'web1.lab', cluster: 'a', member: 'web1', memberState: 'ready', release: 'v1-1111111' },
          { host: 'web3.lab', cluster: 'b', member: 'web3', memberState: 'ready', release: 'v1-1111111' },
        ],
      },
      preflight: {
        findings: [
          { check: 'capacity', outcome: 'ok', message: 'fine' },
          { check: 'disk', host: 'web3.lab', outcome: 'refused', message: 'web3.lab: 10 MiB free' },
        ],
        overridden: { reason: 'disk cleaned by hand', by: 'ada' },
      },
    } as unknown as typeof f.plan;
    const d = reportData(f.run, f.records, plan, {
      approvalChecks: [{ principal: 'bob@example.com' }, { problem: 'it is not signed' }],
    });
    expect(d.change).toEqual({ from: ['v1-1111111'], to: 'v2', tag: 'v2', commit: 'c0ffee' });
    expect(d.totals).toEqual({ requests: 600, http5xx: 2, ratio: 2 / 600 });
    expect(d.pool.at(0)).toEqual({ t: 0, a: 1, b: 1 });
    expect(d.preflight).toEqual({
      findings: [{ check: 'disk', outcome: 'refused', message: 'web3.lab: 10 MiB free' }],
      overridden: { reason: 'disk cleaned by hand', by: 'ada' },
    });
    expect(d.approvals.map((a) => [a.by, a.verified, a.unverified])).toEqual([
      ['bob', 'bob@example.com', undefined],
      ['eve <script>alert(1)</script>', undefined, 'it is not signed'],
    ]);
    const html = reportHtml(d);
    expect(html).toContain('verified as <strong>bob@example.com</strong>');
    expect(html).toContain('<strong>not verified</strong>: it is not signed');
    expect(html).toContain('600 served while it ran; 2 answered 5xx (0.33 %)');
    expect(html).toContain('<strong>Preflight refused and was overridden</strong> by ada: disk cleaned by hand');
    expect(html).toContain('<code>v1-1111111</code>');
  });

  it('a plan that cannot be read is said, never taken for "no approvals"', () => {
    const f = pushFixture();
    const html = reportHtml(reportData(f.run, f.records, undefined, { planProblem: '/x/run.plan.json: not JSON' }));
    expect(html).toContain('<strong>plan unreadable</strong>: /x/run.plan.json: not JSON');
    expect(html).toContain('unknown: the plan cannot be read');
    expect(html).not.toContain('none recorded');
  });

  it('puts each step on its hosts (hosts or releases keys), balancer-only steps on the balancer row', () => {
    const f = pushFixture();
    const d = reportData(f.run, f.records, f.plan);
    expect(d.rows).toEqual(['balancer', 'web3.lab', 'web4.lab']);
    expect(d.bars.filter((b) => b.step === 'stage-b').map((b) => [b.row, b.start, b.end, b.status])).toEqual([
      ['web3.lab', 2000, 4000, 'ok'],
      ['web4.lab', 2000, 4000, 'ok'],
    ]);
    expect(d.bars.filter((b) => b.row === 'balancer').map((b) => b.step)).toEqual([
      'lock',
      'drain-b',
      'flip',
      'unlock',
    ]);
    expect(rowsOfStep(undefined)).toEqual(['balancer']);
  });

  it('turns consecutive cumulative counters into requests and 5xx per second, and counts sessions per cluster', () => {
    const f = pushFixture();
    const d = reportData(f.run, f.records, f.plan);
    expect(d.rates.map((r) => [r.t, r.rps, r.http5xxPerSecond])).toEqual([
      [1000, 100, 0],
      [2000, 100, 0],
      [3000, 100, 2],
      [4000, 100, 0],
      [6000, 100, 0],
    ]);
    expect(d.sessions.at(0)).toEqual({ t: 0, a: 10, b: 0 }); // a member of no cluster is not counted
    expect(d.sessions.at(-1)).toEqual({ t: 6000, a: 0, b: 10 });
  });

  it('gives no rate across a counter that went down (a balancer restart) or a sample without counters', () => {
    const s = (at: string, requests?: number) => ({ at, members: [], ...(requests === undefined ? {} : { requests }) });
    expect(
      ratesFrom(
        [
          s('2026-01-01T00:00:00Z', 500),
          s('2026-01-01T00:00:01Z', 10),
          s('2026-01-01T00:00:02Z'),
          s('2026-01-01T00:00:03Z', 30),
        ],
        Date.parse('2026-01-01T00:00:00Z'),
      ),
    ).toEqual([]);
  });

  it('marks where a reversal turned and the step that failed; reverse steps are their own bars', () => {
    const f = reversedFixture();
    const d = reportData(f.run, f.records, f.plan);
    expect(d.outcome).toBe('reversed');
    expect(d.reversal).toEqual({ t: 5000, reason: 'smoke-b failed', failedStep: 'smoke-b' });
    expect(d.bars.filter((b) => b.status === 'fail').map((b) => [b.step, b.row, b.error])).toEqual([
      ['smoke-b', 'web3.lab', 'GET /health on web3.lab: 500'],
      ['smoke-b', 'web4.lab', 'GET /health on web3.lab: 500'],
    ]);
    expect(d.bars.filter((b) => b.phase === 'reverse').map((b) => [b.step, b.row])).toEqual([
      ['unstage-b', 'web3.lab'],
      ['unstage-b', 'web4.lab'],
      ['ready-b', 'balancer'],
      ['unlock', 'balancer'],
    ]);
    expect(d.rates).toEqual([]);
    expect(d.sessions).toEqual([]);
  });

  it('shows the plan hash and its approvals, signed or not; a step left open is pending', () => {
    const f = pushFixture();
    const d = reportData(f.run, f.records.slice(0, 6), f.plan);
    expect(d.planHash).toBe('sha256:plan-v2');
    expect(d.approvals.map((a) => [a.by, a.signed])).toEqual([
      ['bob', true],
      ['eve <script>alert(1)</script>', false],
    ]);
    expect(d.outcome).toBe('unfinished');
    expect(d.bars.find((b) => b.step === 'drain-b')).toMatchObject({ status: 'pending' });
  });
});

describe('choosing the run to report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-report-'));
  mkdirSync(journalDir(dir), { recursive: true });
  for (const run of ['20261129T100000000Z-aaaaaa', '20261129T110000000Z-bbbbbb', '20261129T110500000Z-cccccc']) {
    writeFileSync(
      join(journalDir(dir), `${run}.jsonl`),
      JSON.stringify({
        ts: '2026-11-29T10:00:00Z',
        run,
        event: 'run-begin',
        command: 'push',
        plan: 'sha256:p',
        tag: 'v1',
        by: 'ci',
        steps: [],
      }) + '\n',
    );
  }

  it('takes the newest by default, an id, or a prefix of one', () => {
    expect(selectRun(dir).run).toBe('20261129T110500000Z-cccccc');
    expect(selectRun(dir, '20261129T100000000Z-aaaaaa').run).toBe('20261129T100000000Z-aaaaaa');
    expect(selectRun(dir, '20261129T1100').run).toBe('20261129T110000000Z-bbbbbb');
    expect(selectRun(dir).plan).toBeUndefined();
  });

  it('refuses an unknown or ambiguous run with exit 64, naming the runs there are', () => {
    const err = (() => {
      try {
        selectRun(dir, 'nope');
      } catch (e) {
        return e;
      }
    })() as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(64);
    expect(err.message).toContain('20261129T110500000Z-cccccc, 20261129T110000000Z-bbbbbb, 20261129T100000000Z-aaaaaa');
    expect(() => selectRun(dir, '20261129T11')).toThrow(/names 2 runs/);
  });
});

describe('report of a canary', () => {
  const T = Date.parse('2026-12-07T10:00:00.000Z');
  const ts = (s: number) => new Date(T + s * 1000).toISOString();
  const run = '20261207-100000-canary';
  const weights = { web1: 1, web2: 1, web3: 19, web4: 19 };
  const failedMessage =
    'canary at 25% failed its analysis on maxRelativeLatency: canary latency 48.2 ms > maxRelativeLatency 2 × ' +
    'stable 10.0 ms (floor) = 20.0 ms (canary: 812 requests timed, mean 48.2 ms ± 2.1 ms; stable: 2400 ' +
    'requests timed, mean 1.1 ms)';
  const records = [
    { ts: ts(0), run, event: 'run-begin', command: 'push', plan: 'sha256:p', tag: 'v10-slow', by: 'ada', steps: [] },
    { ts: ts(1), run, event: 'step-begin', step: 'canary-a-1', kind: 'canary', title: 'canary 1/2', phase: 'forward' },
    {
      ts: ts(7),
      run,
      event: 'step-ok',
      step: 'canary-a-1',
      phase: 'forward',
      ms: 6000,
      changed: {
        weight: 5,
        weights,
        verdict: 'pass',
        scope: 'members',
        canary: { requests: 120, http5xx: 0, failed: 0, latency: { ms: 1.2, timed: 120, errMs: 0 } },
        stable: { requests: 2280, http5xx: 1, failed: 20, latency: { ms: 1.1, timed: 2280, errMs: 0 } },
      },
    },
    { ts: ts(7), run, event: 'step-begin', step: 'canary-a-2', kind: 'canary', title: 'canary 2/2', phase: 'forward' },
    {
      ts: ts(10),
      run,
      event: 'step-fail',
      step: 'canary-a-2',
      phase: 'forward',
      ms: 3000,
      error: failedMessage,
      found: {
        weight: 25,
        weights: { web1: 1, web2: 1, web3: 3, web4: 3 },
        verdict: 'fail',
        metric: 'maxRelativeLatency',
        scope: 'members',
        canary: { requests: 812, http5xx: 0, latency: { ms: 48.2, timed: 812, errMs: 2.1 } },
        stable: { requests: 2400, http5xx: 0, latency: { ms: 1.1, timed: 2400, errMs: 0 } },
      },
    },
    // An undo's weighing is no canary step; a result that is not a verdict is left out.
    { ts: ts(11), run, event: 'step-ok', step: 'undo-canary-a-2', phase: 'reverse', ms: 100, changed: { weights } },
    {
      ts: ts(11),
      run,
      event: 'step-ok',
      step: 'x',
      phase: 'forward',
      ms: 1,
      changed: { weight: '5', verdict: 'pass' },
    },
    { ts: ts(12), run, event: 'run-end', outcome: 'reversed', ms: 12_000 },
  ] as unknown as Parameters<typeof reportData>[1];

  it("carries each canary step's share, weights and verdict with both sides' figures", () => {
    const d = reportData(run, records);
    expect(d.canary).toEqual([
      {
        step: 'canary-a-1',
        weight: 5,
        weights,
        verdict: 'pass',
        scope: 'members',
        canary: { requests: 120, http5xx: 0, failed: 0, latency: { ms: 1.2, timed: 120, errMs: 0 } },
        stable: { requests: 2280, http5xx: 1, failed: 20, latency: { ms: 1.1, timed: 2280, errMs: 0 } },
      },
      expect.objectContaining({
        step: 'canary-a-2',
        weight: 25,
        verdict: 'fail',
        metric: 'maxRelativeLatency',
        error: failedMessage,
      }),
    ]);
  });

  it('shows them in a Canary table: the share, the weights, pass or the metric that failed, and the numbers', () => {
    const html = reportHtml(reportData(run, records));
    const table = /<table id="canary">.*?<\/table>/s.exec(html)?.[0] ?? '';
    const rows = table.split('<tr').slice(2);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('<td>5 %</td><td>web1 1, web2 1, web3 19, web4 19</td><td>pass</td>');
    expect(rows[0]).toContain('120 requests, 0 5xx (0.00 %); 0 failed attempts (0.00 %); mean 1.2 ms of 120 timed');
    expect(rows[0]).toContain(
      '2,280 requests, 1 5xx (0.044 %); 20 failed attempts (0.87 %); mean 1.1 ms of 2,280 timed',
    );
    // a driver that counts no failed attempts (Apache): nothing said of them
    expect(rows[1]).not.toContain('failed attempts');
    expect(rows[1]).toContain('<td>25 %</td><td>web1 1, web2 1, web3 3, web4 3</td>');
    expect(rows[1]).toContain('<strong>failed on maxRelativeLatency</strong>: canary at 25% failed');
    expect(rows[1]).toContain('mean 48.2 ms of 812 timed (± 2.1 ms)');
    // A run without a canary has no such table.
    expect(reportHtml(reportData(run, records.slice(0, 1)))).not.toContain('id="canary"');
  });
});
