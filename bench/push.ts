// npm run bench:push -- [--driver haproxy|apache|nginx] [--per-cluster N] [--concurrency N] [--slow-clients N] [--pad
//   SECONDS]
// Pushes v1→v2 and v3-broken under load with baton through the chosen balancer of the lab, and
// (HAProxy only: the script drains through its runtime API) the same push with a hand-written
// shell script side by side; prints failed requests, the balancer's own retries/redispatches
// (from the driver's counters()) and seconds as JSON, in the same shape for every driver.
import { parseArgs } from 'node:util';
import { driverOverrides, type LabDriver, publicPort, writeLabConfig } from './lab-config.js';
import {
  LOAD_OPTIONS,
  ROOT,
  shapeOf,
  labUp,
  measurePush,
  publicUrlOf,
  quietPush,
  round,
  underLoad,
} from './lab-push.js';

const { values } = parseArgs({
  options: { ...LOAD_OPTIONS, driver: { type: 'string', default: 'haproxy' } },
});
const DRIVERS: readonly LabDriver[] = ['haproxy', 'apache', 'nginx', 'nginx-lua'];
if (!DRIVERS.includes(values.driver as LabDriver))
  throw new Error(`--driver ${values.driver}: expected one of ${DRIVERS.join(', ')}`);
const driver = values.driver as LabDriver;
const url = publicUrlOf(publicPort(driver));
const perCluster = Number(values['per-cluster']);
const shape = shapeOf(values);

labUp(perCluster);
const config = writeLabConfig(`/run/baton-lab/baton.${driver}.bench.yml`, driverOverrides(driver));
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1 before measuring');

const push = await measurePush('v2', shape, config, url);
const broken = await measurePush('v3-broken', shape, config, url);
// The baseline goes back v2 → v1: the same amount of work in the other direction. It drains
// through HAProxy's runtime API, so for another driver it would not drain the balancer measured.
const baseline =
  driver === 'haproxy'
    ? await underLoad(['bash', `${ROOT}/bench/baseline-push.sh`, 'v1'], shape, config, url)
    : undefined;
// Without the baseline, put the lab back on v1 ourselves (after measuring: the figures stand either way).
const resetExitCode = baseline ? baseline.exitCode : await quietPush('v1', config);

const result = {
  driver,
  hostsPerCluster: perCluster,
  load: shape,
  requests: push.load.requests,
  // failed: what a client that never retries sees; failedAfterRetry: a client that resends an
  // idempotent request reset on a reused keep-alive connection (browsers, Go, curl).
  failed: push.load.failed,
  failedAfterRetry: push.load.failedAfterRetry,
  resetOnReusedConnection: push.load.failures.resetOnReusedConnection,
  redispatches: push.redispatches + push.retries,
  pushSeconds: push.seconds,
  timeToFirstStepSeconds: push.timeToFirstStepSeconds ?? null,
  journalSpanSeconds: push.journalSpanSeconds ?? null,
  drainSeconds: push.drainSeconds ?? null,
  stageSeconds: push.stageSeconds ?? null,
  peakRssMiB: push.peakRssMiB ?? null,
  reversalSeconds: broken.reversalSeconds ?? null,
  baselineSeconds: baseline?.seconds ?? null,
  ratio: baseline ? round(push.seconds / baseline.seconds) : null,
  broken: {
    exitCode: broken.exitCode,
    outcome: broken.outcome,
    ...(broken.error !== undefined ? { error: broken.error } : {}),
    seconds: broken.seconds,
    requests: broken.load.requests,
    failed: broken.load.failed,
    failedAfterRetry: broken.load.failedAfterRetry,
    resetOnReusedConnection: broken.load.failures.resetOnReusedConnection,
    redispatches: broken.redispatches + broken.retries,
    byVersion: broken.load.byVersion,
  },
  push: {
    exitCode: push.exitCode,
    ...(push.error !== undefined ? { error: push.error } : {}),
    forwardSeconds: push.forwardSeconds,
    failures: push.load.failures,
    connectionErrors: push.load.connectionErrors,
    latencyMs: push.load.latencyMs,
    byVersion: push.load.byVersion,
    http5xx: push.http5xx,
  },
  resetExitCode,
  baseline: baseline
    ? {
        exitCode: baseline.exitCode,
        requests: baseline.load.requests,
        failed: baseline.load.failed,
        redispatches: baseline.redispatches + baseline.retries,
      }
    : null,
};
console.log(JSON.stringify(result, null, 2));
