// Where the environment shows: the journal's first line, history, status, the plan and the report.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { journalDir } from '../../src/engine/journal.js';
import { openRun } from '../../src/engine/run.js';
import { releaseFor } from '../../src/model/release.js';
import { listRuns } from '../../src/release/history.js';
import type { StatusReport } from '../../src/release/status.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { reportHtml } from '../../src/render/report-html.js';
import { historyText, statusText } from '../../src/render/status.js';
import { reportData } from '../../src/report/report-data.js';
import { pushFixture } from '../helpers/report-fixtures.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'baton-env-show-'));
  dirs.push(d);
  return d;
};
const begin = { command: 'push', plan: 'p1', tag: 'v2', by: 'ci', steps: ['lock'] };

describe('the journal', () => {
  it("records the environment in run-begin, in the environment's own folder", async () => {
    const dir = tempDir();
    const run = openRun({ dir, environment: 'staging' }, { begin });
    await run.abandon();
    expect(readdirSync(join(dir, '.baton'))).toEqual(['journal-staging']);
    const first = JSON.parse(
      readFileSync(join(journalDir({ dir, environment: 'staging' }), `${run.id}.jsonl`), 'utf8')
        .split('\n')
        .find(Boolean)!,
    ) as Record<string, unknown>;
    expect(first).toMatchObject({ event: 'run-begin', environment: 'staging' });
    expect(listRuns({ dir, environment: 'staging' })[0]?.environment).toBe('staging');
    // production sees none of staging's runs
    expect(listRuns(dir)).toEqual([]);
  });

  it('without an environment, is as before', () => {
    const dir = tempDir();
    const run = openRun(dir, { begin });
    const first = JSON.parse(
      readFileSync(join(dir, '.baton', 'journal', `${run.id}.jsonl`), 'utf8')
        .split('\n')
        .find(Boolean)!,
    ) as Record<string, unknown>;
    expect(first).not.toHaveProperty('environment');
  });
});

describe('history and status', () => {
  it('history says which environment it lists; without one it is as before', () => {
    expect(historyText([], 'staging')).toBe('environment staging: no runs recorded yet');
    expect(historyText([])).toBe('no runs recorded yet');
    const runs = [
      {
        run: 'r1',
        command: 'push',
        tag: 'v2',
        by: 'ci',
        environment: 'staging',
        startedAt: '2026-11-27T11:00:00.000Z',
        outcome: 'succeeded' as const,
        completed: [],
        notes: [],
        journal: 'x',
      },
    ];
    expect(historyText(runs, 'staging').split('\n')[0]).toBe('environment staging');
  });

  it('status names the app with its environment', () => {
    const report: StatusReport = {
      app: 'shop',
      environment: 'staging',
      balancer: { driver: 'haproxy', host: 'lb', backend: 'web' },
      clusters: [
        { id: 'a', internal: 'stg-a', inPool: ['web1a'], serving: 'all', releases: ['v1-aaaaaaa'] },
        { id: 'b', internal: 'stg-b', inPool: [], serving: 'no', releases: ['v1-aaaaaaa'] },
      ],
      hosts: [],
      lock: { state: 'free' },
      unread: [],
    };
    expect(statusText(report)).toMatch(
      /^shop \(staging\): cluster a on v1-aaaaaaa in the pool of haproxy lb backend web/,
    );
    const { environment: _, ...production } = report;
    expect(statusText(production)).toMatch(/^shop: cluster a/);
  });
});

describe('the plan and the report', () => {
  const plan = buildBlueGreenPlan({
    config: { ...planConfigFixture(), environment: 'staging' },
    observed: observedFixture(),
    release: releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc'),
    createdBy: 'ada',
    now: new Date('2026-11-27T00:00:00Z'),
  });

  it('the plan names it beside the app', () => {
    expect(planText(plan).split('\n')[0]).toMatch(/ for shop \(staging\): v2 at /);
    expect(planMarkdown(plan)).toMatch(/^# Push v2 of shop \(staging\)$/m);
  });

  it('the report shows it from the journal, else from the plan', () => {
    const f = pushFixture();
    const records = f.records.map((r) => (r.event === 'run-begin' ? { ...r, environment: 'staging' } : r));
    const data = reportData(f.run, records, f.plan);
    expect(data.environment).toBe('staging');
    const html = reportHtml(data);
    expect(html).toContain('<dt>environment</dt><dd id="environment"><code>staging</code></dd>');
    expect(html).toMatch(/<title>baton push v2 \(staging\) — /);
    expect(reportData(f.run, f.records, { ...f.plan, environment: 'qa' }).environment).toBe('qa');
    expect(reportHtml(reportData(f.run, f.records, f.plan))).not.toContain('<dt>environment</dt>');
  });
});
