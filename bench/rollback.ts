// npm run bench:rollback -- [--per-cluster N] [--concurrency N] [--slow-clients N] [--node PATH] [--root DIR]
// Warm rollback (a held push: the other cluster still runs the old release) and cold rollback
// (both clusters on the new release), each under load; prints seconds and failed requests as JSON.
// `warm` / `cold`: seconds from the command's start until every new request goes to the old
// release (the journal's timestamp of the drain that moves the last traffic off the new one).
// `timeline`: each journal line of the run (and each step's end), in seconds from the command's start.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readJournal } from '../src/engine/journal.js';
import { writeLabConfig } from './lab-config.js';
import { LOAD_OPTIONS, ROOT, shapeOf, labUp, quietPush, round, underLoad } from './lab-push.js';

// --node: the Node binary the rollback runs on (e.g. Node 24, whose compile cache shortens start-up).
// --root: the checkout whose baton rolls back (default: this one; a copy of an earlier build, to compare).
const { values } = parseArgs({
  options: { ...LOAD_OPTIONS, node: { type: 'string', default: 'node' }, root: { type: 'string', default: ROOT } },
});
const shape = shapeOf(values);
labUp(Number(values['per-cluster']));
const config = writeLabConfig();

async function rollback(setup: string[]) {
  for (const args of [['v1'], setup]) {
    if ((await quietPush(args[0] as string, config, args.slice(1))) !== 0)
      throw new Error(`could not prepare the lab: push ${args.join(' ')}`);
  }
  // The command notes its own start (ms since the epoch) the instant before node starts.
  const stamp = join(mkdtempSync(join(tmpdir(), 'baton-bench-')), 'started');
  const argv = [
    'sh',
    '-c',
    'date +%s%3N > "$1"; shift; exec "$@"',
    'sh',
    stamp,
    values.node,
    `${values.root}/bin/run.js`,
    'rollback',
    '--yes',
    '--json',
    '-c',
    config,
  ];
  const r = await underLoad(argv, shape, config);
  const json = JSON.parse(r.stdout) as { outcome?: string; journal?: string; warm?: boolean };
  if (r.exitCode !== 0 || !json.journal) throw new Error(`rollback failed (exit ${r.exitCode}): ${r.stdout}`);
  const journal = readJournal(json.journal);
  const drains = journal.filter((e) => e.event === 'step-ok' && 'step' in e && e.step.startsWith('drain-'));
  const started = Number(readFileSync(stamp, 'utf8'));
  const trafficBack = (new Date(drains.at(-1)?.ts ?? 0).getTime() - started) / 1000;
  const timeline = journal
    .filter((e) => e.event !== 'sample')
    .map(
      (e) => `${round((Date.parse(e.ts) - started) / 1000).toFixed(2)} ${e.event}${'step' in e ? ` ${e.step}` : ''}`,
    );
  return {
    warm: json.warm,
    trafficBackSeconds: round(trafficBack),
    seconds: r.seconds,
    peakRssMiB: r.peakRssMiB ?? null,
    requests: r.load.requests,
    failed: r.load.failed,
    failures: r.load.failures,
    redispatches: r.redispatches + r.retries,
    byVersion: r.load.byVersion,
    timeline,
  };
}

const warm = await rollback(['v2', '--hold']);
const cold = await rollback(['v2']);
console.log(
  JSON.stringify(
    {
      hostsPerCluster: Number(values['per-cluster']),
      node: spawnSync(values.node, ['--version'], { encoding: 'utf8' }).stdout.trim(),
      root: values.root,
      load: shape,
      warm: warm.trafficBackSeconds,
      cold: cold.trafficBackSeconds,
      requests: warm.requests + cold.requests,
      failed: warm.failed + cold.failed,
      redispatches: warm.redispatches + cold.redispatches,
      runs: { warm, cold },
    },
    null,
    2,
  ),
);
