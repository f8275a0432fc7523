// Schema changes against the lab's real PostgreSQL, shared by both clusters: v6-db reads
// orders(id, item, qty); v7-db-expand reads quantity, which its expand adds (v6 keeps working)
// and its contract drops qty; v8-db-breaking's expand renames item, which v6 and v7 read. The
// compatible release goes through with 0 failed requests; the contract is refused while a
// cluster still runs v6; the breaking one is stopped by the gate before any drain, and the
// public sees errors only between the expand and its reversal.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal, type JournalRecord } from '../../src/engine/journal.js';
import { startLoad } from '../lab/load.js';
import { watchAnswers } from '../lab/answer-watcher.js';
import { currentReleases, onHost, readyAllHaproxyMembers } from './helpers/lab.js';

const DB = 'postgres://postgres@10.213.7.6:5432/shop';
const ORDERS = 'http://10.213.7.2/orders';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'migrations-test' } });
}

async function sql(query: string): Promise<string> {
  return (await execa('psql', [DB, '-X', '-q', '-t', '-A', '-c', query])).stdout.trim();
}

const columns = () =>
  sql(
    "SELECT string_agg(column_name, ',' ORDER BY column_name) " +
      "FROM information_schema.columns WHERE table_name = 'orders'",
  );

function labConfig(name: string, migrate: Record<string, unknown>, smoke?: unknown) {
  return writeLabConfig(join(mkdtempSync(join(tmpdir(), `baton-migrate-${name}-`)), 'baton.yml'), [
    [
      ['migrate'],
      {
        host: 'web-1.prod-a.baton.test',
        expand: './migrate expand',
        reverse: './migrate reverse',
        contract: './migrate contract',
        ...migrate,
      },
    ],
    ...(smoke ? [[['smoke'], smoke] as [string[], unknown]] : []),
  ]);
}

const SMOKE_WITH_ORDERS = {
  deadline: '10s',
  checks: [
    { path: '/healthz', status: 200 },
    { path: '/orders', status: 200, contains: 'orders' },
  ],
};
let config: string;

beforeAll(async () => {
  readyAllHaproxyMembers();
  // A database as a first push of v6-db finds it: no table, no ledger.
  await sql('DROP TABLE IF EXISTS orders');
  await onHost('web-1.prod-a.baton.test', 'rm -rf /srv/shop/migrations');
  // Whatever runs now has no /orders yet: this push's gate checks health only.
  const first = labConfig('first', { gate: [{ path: '/healthz', status: 200 }] });
  // Forced: a lab left on v6-db would make this "No changes", and the expand must run on the emptied database.
  const r = await baton('push', 'v6-db', '-c', first, '--force', 'migrations test: expand on a fresh database');
  expect(r.exitCode, r.stderr).toBe(0);
  expect(await columns()).toBe('id,item,qty');
  config = labConfig('orders', {}, SMOKE_WITH_ORDERS);
});

const stepsOf = (journal: string) =>
  readJournal(journal)
    .filter((e): e is Extract<JournalRecord, { event: 'step-begin' }> => e.event === 'step-begin')
    .map((e) => e.step);

describe('schema changes with migrate', () => {
  it(
    'expands for v7 before the first drain, gates v6 on the new schema, and pushes with 0 failed requests; ' +
      'contract waits for every host',
    async () => {
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 300, concurrency: 4 });
      const orders = startLoad({ url: ORDERS, seconds: 300, concurrency: 4 });
      const held = await baton('push', 'v7-db-expand', '-c', config, '--hold', '--json');
      expect(held.exitCode, held.stderr).toBe(0);
      const steps = stepsOf(JSON.parse(held.stdout).journal as string);
      expect(steps.slice(0, 5)).toEqual(['lock', 'stage', 'expand', 'gate', 'drain-a']);
      expect(await columns()).toBe('id,item,qty,quantity');

      // Cluster b still runs v6, which reads qty: the contract must wait.
      const refused = await baton('contract', '--yes', '-c', config);
      expect(refused.exitCode, refused.stderr).toBe(3);
      expect(refused.stderr).toMatch(/web-1\.prod-b\.baton\.test.*v6-db/);
      expect(await columns()).toBe('id,item,qty,quantity');

      const rest = await baton('resume', '-c', config, '--json');
      const [report, ordersReport] = [await load.stop(), await orders.stop()];
      expect(rest.exitCode, rest.stderr).toBe(0);
      expect(report.failed, JSON.stringify(report.failures)).toBe(0);
      expect(ordersReport.failed, JSON.stringify(ordersReport.failures)).toBe(0);
      expect(ordersReport.byVersion['v6-db']).toBeGreaterThan(0);
      expect(ordersReport.byVersion['v7-db-expand']).toBeGreaterThan(0);
      for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v7-db-expand-/);

      const contracted = await baton('contract', '--yes', '-c', config, '--json');
      expect(contracted.exitCode, contracted.stderr).toBe(0);
      expect(await columns()).toBe('id,item,quantity');
      expect((await execa('curl', ['-fsS', ORDERS])).stdout).toContain('"quantity":2');
    },
  );

  it(
    'stops v8 at the gate before any drain: the expand is reversed, ' +
      'and /orders failed only between the expand and its reversal',
    async () => {
      const before = await currentReleases();
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 300, concurrency: 4 });
      const watcher = watchAnswers(ORDERS);
      const r = await baton('push', 'v8-db-breaking', '-c', config, '--json');
      const [report, answers] = [await load.stop(), await watcher.stop()];
      expect(r.exitCode, r.stderr).toBe(1);
      const result = JSON.parse(r.stdout).error.result as { outcome: string; failedStep: string; journal: string };
      expect(result).toMatchObject({ outcome: 'reversed', failedStep: 'gate' });
      expect(r.stderr).toMatch(/fails its checks on the expanded schema/);
      const journal = readJournal(result.journal);
      expect(stepsOf(result.journal).some((s) => s.startsWith('drain'))).toBe(false);
      expect(await currentReleases()).toEqual(before);
      expect(await columns()).toBe('id,item,quantity'); // the rename was reversed
      expect(report.failed).toBe(0); // pages that do not touch the database never failed

      // Every failed /orders answer was asked for after the expand began and before its reversal ended.
      const at = (step: string, event: 'step-begin' | 'step-ok') =>
        new Date(journal.find((e) => e.event === event && 'step' in e && e.step === step)?.ts ?? NaN).getTime();
      const [expandBegan, reversed] = [at('expand', 'step-begin'), at('undo-expand', 'step-ok')];
      const failed = answers.filter((a) => a.status !== 200);
      expect(answers.length).toBeGreaterThan(20);
      for (const f of failed) {
        expect(f.at).toBeGreaterThanOrEqual(expandBegan - 50);
        expect(f.at).toBeLessThanOrEqual(reversed + 50);
      }
      expect(answers.filter((a) => a.at > reversed + 500).every((a) => a.status === 200)).toBe(true);
    },
  );
});
