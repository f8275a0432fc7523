// npm run bench:canary -- [--driver haproxy|apache|nginx-lua] [--runs 1] [--canary 5%:10s,25%:10s] [--watch 10s]
//   [--per-cluster N] [--concurrency N] [--slow-clients N] [--pad SECONDS]
// Canary steps under the push benchmark's load: (a) a good release (v1 → v2) through every
// canary step; (b) v9-flaky (one GET / in ten answers 500) with the same steps, stopped by a
// step's analysis and reversed; (c) the same v9-flaky flipped whole with only the watch
// (--no-canary); (d) v10-slow (every GET / 40 ms later, nothing fails) with the same steps,
// stopped by the latency comparison; (e) v11-resets (one GET / in five reset without an answer)
// with the same steps, stopped by the connection-error rule. Prints, per run and as medians,
// failed requests at the client, the balancer's redispatches and retries, push and reversal
// seconds, where (b), (d) and (e) stopped and the figures their verdicts gave (canary and stable
// 5xx, failed attempts, requests and mean response times, from the journal), (c)'s failures over
// (b)'s, and the client's p99 latency under (d).
// Whether a step compares the canary's members with the stable ones or only the backend-wide
// ratio is read from the plan (`judged`).
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readJournal } from '../src/engine/journal.js';
import { driverOverrides, type LabDriver, publicPort, writeLabConfig } from './lab-config.js';
import { LOAD_OPTIONS, ROOT, shapeOf, labUp, publicUrlOf, quietPush, round, underLoad } from './lab-push.js';

const { values } = parseArgs({
  options: {
    ...LOAD_OPTIONS,
    driver: { type: 'string', default: 'haproxy' },
    runs: { type: 'string', default: '1' },
    canary: { type: 'string', default: '5%:10s,25%:10s' },
    watch: { type: 'string', default: '10s' },
  },
});
const DRIVERS: readonly LabDriver[] = ['haproxy', 'apache', 'nginx-lua'];
if (!DRIVERS.includes(values.driver as LabDriver))
  throw new Error(`--driver ${values.driver}: expected one of ${DRIVERS.join(', ')} (nginx mode: file cannot weigh)`);
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${values.runs}: expected a whole number from 1`);
const driver = values.driver as LabDriver;
const url = publicUrlOf(publicPort(driver));
const perCluster = Number(values['per-cluster']);
const shape = shapeOf(values);
const WATCH = { duration: values.watch, max5xxRatio: 0.02 };

labUp(perCluster);
const config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-bench-canary-')), 'baton.yml'), [
  ...driverOverrides(driver),
  [['watch'], WATCH],
]);
const baton = `${ROOT}/bin/run.js`;

/** What the plan says a step judges: the canary's members against the stable ones, or the backend's ratio alone. */
function planned(): { scope: string; weights: unknown } {
  const out = execFileSync('node', [baton, 'plan', 'v2', '-c', config, '--canary', values.canary, '--format', 'json'], {
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
  });
  const canary = (JSON.parse(out) as { canary?: { scope: string; weights: unknown } }).canary;
  if (!canary) throw new Error('the plan has no canary');
  return canary;
}

interface Side {
  requests: number;
  http5xx: number;
  failed?: number;
  latency?: { ms: number; timed: number; errMs: number };
}

interface Verdict {
  step: string;
  weight?: number;
  verdict: string;
  metric?: string;
  canary?: Side;
  stable?: Side;
  message?: string;
}

/** Each canary step's verdict from the journal: step-ok records carry the figures, a failed step's error names them. */
function verdicts(journal: string): Verdict[] {
  const out: Verdict[] = [];
  for (const e of readJournal(journal)) {
    if ('phase' in e && e.phase !== 'forward') continue;
    if (e.event === 'step-ok' && /^canary-[ab]-\d+$/.test(e.step)) {
      const c = e.changed as Omit<Verdict, 'step'>;
      out.push({
        step: e.step,
        weight: c.weight,
        verdict: c.verdict,
        ...(c.canary ? { canary: c.canary } : {}),
        ...(c.stable ? { stable: c.stable } : {}),
      });
    }
    if (e.event === 'step-fail' && /^canary-[ab]-\d+$/.test(e.step)) {
      // What the step found when it failed: the rule and both sides' figures (its error says the same in words).
      const f = (e.found ?? {}) as Omit<Verdict, 'step'>;
      out.push({
        step: e.step,
        ...(f.weight !== undefined ? { weight: f.weight } : {}),
        verdict: 'fail',
        ...(f.metric ? { metric: f.metric } : {}),
        ...(f.canary ? { canary: f.canary } : {}),
        ...(f.stable ? { stable: f.stable } : {}),
        message: e.error,
      });
    }
  }
  return out;
}

const ratio5xx = (w?: Side) => (w && w.requests ? round((100 * w.http5xx) / w.requests) : null);
const meanMs = (w?: Side) => (w?.latency ? round(w.latency.ms) : null);
/** Failed attempts over attempts (answered + failed), in percent; null where the driver counts none. */
const failedPercent = (w?: Side) =>
  w && w.failed !== undefined && w.requests + w.failed ? round((100 * w.failed) / (w.requests + w.failed)) : null;

async function push(tag: string, extra: string[]) {
  const r = await underLoad(['node', baton, 'push', tag, '-c', config, '--json', ...extra], shape, config, url);
  type Result = { outcome?: string; failedStep?: string; reversalMs?: number; journal?: string };
  let json: Result & { error?: { message?: string; result?: Result } };
  try {
    json = JSON.parse(r.stdout) as typeof json;
  } catch {
    throw new Error(`push ${tag} ${extra.join(' ')} printed no JSON (exit ${r.exitCode}): ${r.stdout}`);
  }
  const result = json.error?.result ?? json;
  const error = json.error?.message;
  return {
    exitCode: r.exitCode,
    outcome: result.outcome ?? null,
    ...(error !== undefined ? { error } : {}),
    stoppedAt: result.failedStep ?? null,
    seconds: r.seconds,
    reversalSeconds: result.reversalMs !== undefined ? round(result.reversalMs / 1000) : null,
    requests: r.load.requests,
    failed: r.load.failed,
    non2xx: r.load.failures.non2xx,
    redispatches: r.redispatches,
    retries: r.retries,
    byVersion: r.load.byVersion,
    p99Ms: r.load.latencyMs.p99,
    steps: result.journal ? verdicts(result.journal) : [],
  };
}

async function once() {
  if ((await quietPush('v1', config, ['--no-canary'])) !== 0) throw new Error('could not set the lab to v1');
  const good = await push('v2', ['--canary', values.canary]);
  if (good.exitCode !== 0) throw new Error(`the good release did not go through: ${good.error ?? good.outcome}`);
  const flaky = await push('v9-flaky', ['--canary', values.canary]);
  const flip = await push('v9-flaky', ['--no-canary']);
  const slow = await push('v10-slow', ['--canary', values.canary]);
  const resets = await push('v11-resets', ['--canary', values.canary]);
  const stopped = flaky.steps.find((s) => s.verdict === 'fail');
  const slowStopped = slow.steps.find((s) => s.verdict === 'fail');
  const resetsStopped = resets.steps.find((s) => s.verdict === 'fail');
  return {
    good,
    flaky: {
      ...flaky,
      canary5xxPercent: ratio5xx(stopped?.canary),
      stable5xxPercent: ratio5xx(stopped?.stable),
    },
    flip,
    flipOverCanary: flaky.failed ? round(flip.failed / flaky.failed) : null,
    slow: {
      ...slow,
      metric: slowStopped?.metric ?? null,
      canaryMeanMs: meanMs(slowStopped?.canary),
      stableMeanMs: meanMs(slowStopped?.stable),
    },
    resets: {
      ...resets,
      metric: resetsStopped?.metric ?? null,
      canaryFailedAttempts: resetsStopped?.canary?.failed ?? null,
      canaryFailedPercent: failedPercent(resetsStopped?.canary),
      canary5xxPercent: ratio5xx(resetsStopped?.canary),
      stableFailedPercent: failedPercent(resetsStopped?.stable),
    },
  };
}

// The plan of v2 over v1 says what a step judges: the lab may be on any release when the bench starts.
if ((await quietPush('v1', config, ['--no-canary'])) !== 0) throw new Error('could not set the lab to v1');
const scope = planned();
const measured: Awaited<ReturnType<typeof once>>[] = [];
for (let i = 0; i < runs; i++) measured.push(await once());
if ((await quietPush('v1', config, ['--no-canary'])) !== 0) process.exitCode = 1;

const median = (xs: (number | null)[]) => {
  const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (!s.length) return null;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : round((s[mid - 1]! + s[mid]!) / 2);
};
const med = (pick: (r: (typeof measured)[number]) => number | null) => median(measured.map(pick));

console.log(
  JSON.stringify(
    {
      driver,
      judged:
        scope.scope === 'members'
          ? "per member: the canary cluster's 5xx ratio against the stable cluster's"
          : `backend-wide: the ${driver} driver counts no 5xx per member yet, so a step judges the whole backend's ` +
            "5xx ratio against max5xxRatio alone (a step's `canary` figures are then the whole backend's)",
      hostsPerCluster: perCluster,
      load: shape,
      canary: values.canary,
      analysis:
        'max5xxRatio 5%, maxRelative5xx 2 (stable floored at 1%), maxRelativeLatency 2 (stable floored at 10 ms), ' +
        'maxConnectionErrorRatio 2%, maxRelativeConnectionErrors 2 (stable floored at 1%; not judged on apache), ' +
        'minRequests 50 (defaults)',
      watch: WATCH,
      runs,
      medians: {
        good: {
          failed: med((r) => r.good.failed),
          requests: med((r) => r.good.requests),
          redispatches: med((r) => r.good.redispatches + r.good.retries),
          pushSeconds: med((r) => r.good.seconds),
        },
        flakyWithCanary: {
          failed: med((r) => r.flaky.failed),
          requests: med((r) => r.flaky.requests),
          reversalSeconds: med((r) => r.flaky.reversalSeconds),
          canary5xxPercent: med((r) => r.flaky.canary5xxPercent),
          stable5xxPercent: med((r) => r.flaky.stable5xxPercent),
        },
        flakyFlipWithWatch: {
          failed: med((r) => r.flip.failed),
          requests: med((r) => r.flip.requests),
          reversalSeconds: med((r) => r.flip.reversalSeconds),
        },
        flipOverCanary: med((r) => r.flipOverCanary),
        slowWithCanary: {
          failed: med((r) => r.slow.failed),
          requests: med((r) => r.slow.requests),
          reversalSeconds: med((r) => r.slow.reversalSeconds),
          canaryMeanMs: med((r) => r.slow.canaryMeanMs),
          stableMeanMs: med((r) => r.slow.stableMeanMs),
          clientP99Ms: med((r) => r.slow.p99Ms),
        },
        resetsWithCanary: {
          failed: med((r) => r.resets.failed),
          requests: med((r) => r.resets.requests),
          reversalSeconds: med((r) => r.resets.reversalSeconds),
          canaryFailedAttempts: med((r) => r.resets.canaryFailedAttempts),
          canaryFailedPercent: med((r) => r.resets.canaryFailedPercent),
          canary5xxPercent: med((r) => r.resets.canary5xxPercent),
          stableFailedPercent: med((r) => r.resets.stableFailedPercent),
        },
      },
      stoppedAt: measured.map((r) => r.flaky.stoppedAt),
      slowStoppedAt: measured.map((r) => `${r.slow.stoppedAt} (${r.slow.metric})`),
      resetsStoppedAt: measured.map((r) => `${r.resets.stoppedAt} (${r.resets.metric})`),
      measured,
    },
    null,
    2,
  ),
);
