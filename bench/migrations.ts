// npm run bench:migrations
// Schema changes against the lab's PostgreSQL, shared by both clusters, under load (the public
// page and GET /orders, which reads the database): v6-db, then v7-db-expand (its expand adds a
// column v6 does not read) pushed with migrate, then v8-db-breaking (its expand renames a column
// v7 reads), which the gate must stop before any drain. Prints, for each: exit code, push
// seconds, the expand and gate seconds from the journal, requests and failed requests on both
// URLs, and for the breaking one exactly what the public saw: failed /orders answers, the window
// they fell in, and the time from the expand's start to its reversal.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { readJournal, type JournalRecord } from '../src/engine/journal.js';
import { startLoad } from '../test/lab/load.js';
import { watchAnswers } from '../test/lab/answer-watcher.js';
import { writeLabConfig } from './lab-config.js';
import { labUp, ROOT, round } from './lab-push.js';

const DB = 'postgres://postgres@10.213.7.6:5432/shop';
const ORDERS = 'http://10.213.7.2/orders';

labUp(2);

const sql = async (query: string) => (await execa('psql', [DB, '-X', '-q', '-t', '-A', '-c', query])).stdout.trim();
const baton = (...args: string[]) =>
  execa('node', [`${ROOT}/bin/run.js`, ...args], { reject: false, env: { CI: '1', BATON_USER: 'bench-migrations' } });

function config(name: string, gate?: unknown): string {
  const migrate = {
    host: 'web-1.prod-a.baton.test',
    expand: './migrate expand',
    reverse: './migrate reverse',
    contract: './migrate contract',
    ...(gate ? { gate } : {}),
  };
  const smoke = { deadline: '10s', checks: [{ path: '/healthz' }, { path: '/orders', contains: 'orders' }] };
  return writeLabConfig(join(mkdtempSync(join(tmpdir(), `baton-bench-migrate-${name}-`)), 'baton.yml'), [
    [['migrate'], migrate],
    [['smoke'], smoke],
  ]);
}

function stepSeconds(journal: JournalRecord[], step: string): number | undefined {
  const ok = journal.find((e) => (e.event === 'step-ok' || e.event === 'step-fail') && e.step === step);
  return ok && 'ms' in ok ? round(ok.ms / 1000) : undefined;
}

const at = (journal: JournalRecord[], step: string, event: string) =>
  new Date(journal.find((e) => e.event === event && 'step' in e && e.step === step)?.ts ?? NaN).getTime();

// A database as a first push of v6-db finds it.
await sql('DROP TABLE IF EXISTS orders');
await execa('ssh', ['-F', '/run/baton-lab/ssh_config', 'web-1.prod-a.baton.test', 'rm -rf /srv/shop/migrations']);
// Forced: a lab left on v6-db by an earlier run would otherwise be "no changes" and run no migration.
const first = await baton(
  'push',
  'v6-db',
  '-c',
  config('first', [{ path: '/healthz' }]),
  '--force',
  'bench:migrations starts from a first push',
);
if (first.exitCode !== 0) throw new Error(`could not push v6-db: ${first.stderr}`);
const file = config('orders');

async function measure(tag: string) {
  const load = startLoad({ url: 'http://10.213.7.2/', seconds: 3600, concurrency: 8, timeout: 15_000 });
  const orders = startLoad({ url: ORDERS, seconds: 3600, concurrency: 4, timeout: 15_000 });
  const watcher = watchAnswers(ORDERS);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  const r = await baton('push', tag, '-c', file, '--json');
  const seconds = round((performance.now() - t0) / 1000);
  await new Promise((res) => setTimeout(res, 1000));
  const [page, db, answers] = [await load.stop(), await orders.stop(), await watcher.stop()];
  const out = JSON.parse(r.stdout || '{}') as { journal?: string; error?: { result?: { journal?: string } } };
  const journalFile = out.journal ?? out.error?.result?.journal;
  const journal = journalFile ? readJournal(journalFile) : [];
  const failed = answers.filter((a) => a.status !== 200);
  const expandBegan = at(journal, 'expand', 'step-begin');
  const reversed = at(journal, 'undo-expand', 'step-ok');
  return {
    tag,
    exitCode: r.exitCode,
    pushSeconds: seconds,
    expandSeconds: stepSeconds(journal, 'expand'),
    gateSeconds: stepSeconds(journal, 'gate'),
    drained: journal.some((e) => e.event === 'step-begin' && e.step.startsWith('drain')),
    page: { requests: page.requests, failed: page.failed },
    orders: { requests: db.requests, failed: db.failed, byVersion: db.byVersion },
    publicSaw: {
      ordersWatched: answers.length,
      ordersFailed: failed.length,
      statuses: Object.fromEntries(
        [...new Set(failed.map((f) => f.status))].map((s) => [s, failed.filter((f) => f.status === s).length]),
      ),
      failedWindowSeconds: failed.length ? round(((failed.at(-1)?.at ?? 0) - (failed[0]?.at ?? 0)) / 1000) : 0,
      ...(Number.isFinite(reversed) ? { expandToReversedSeconds: round((reversed - expandBegan) / 1000) } : {}),
      failedOutsideExpandToReversal: Number.isFinite(reversed)
        ? failed.filter((f) => f.at < expandBegan - 50 || f.at > reversed + 50).length
        : failed.length,
    },
  };
}

const compatible = await measure('v7-db-expand');
const breaking = await measure('v8-db-breaking');
console.log(JSON.stringify({ compatible, breaking }, null, 2));
