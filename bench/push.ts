// npm run bench:push -- [--per-cluster N] [--concurrency N] [--slow-clients N] [--pad SECONDS]
// Pushes v1→v2 and v3-broken under load with baton, and the same push with a hand-written shell
// script side by side; prints failed requests, balancer retries/redispatches and seconds as JSON.
import { parseArgs } from 'node:util';
import { writeLabConfig } from './lab-config.js';
import { DEFAULT_LOAD, ROOT, labUp, measurePush, quietPush, round, underLoad } from './lab-push.js';

const { values } = parseArgs({
  options: {
    'per-cluster': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: String(DEFAULT_LOAD.concurrency) },
    'slow-clients': { type: 'string', default: String(DEFAULT_LOAD.slowClients) },
    pad: { type: 'string', default: String(DEFAULT_LOAD.padSeconds) },
    driver: { type: 'string', default: 'haproxy' },
  },
});
if (values.driver !== 'haproxy') throw new Error(`driver ${values.driver}: only haproxy is measured so far`);
const perCluster = Number(values['per-cluster']);
const shape = { concurrency: Number(values.concurrency), slowClients: Number(values['slow-clients']), padSeconds: Number(values.pad) };

labUp(perCluster);
const config = writeLabConfig();
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1 before measuring');

const push = await measurePush('v2', shape, config);
const broken = await measurePush('v3-broken', shape, config);
// The baseline goes back v2 → v1: the same amount of work in the other direction.
const baseline = await underLoad(['bash', `${ROOT}/bench/baseline-push.sh`, 'v1'], shape, config);

const result = {
  driver: 'haproxy',
  hostsPerCluster: perCluster,
  load: shape,
  requests: push.load.requests,
  failed: push.load.failed,
  redispatches: push.redispatches + push.retries,
  pushSeconds: push.seconds,
  reversalSeconds: broken.reversalSeconds ?? null,
  baselineSeconds: baseline.seconds,
  ratio: round(push.seconds / baseline.seconds),
  broken: {
    exitCode: broken.exitCode,
    outcome: broken.outcome,
    seconds: broken.seconds,
    requests: broken.load.requests,
    failed: broken.load.failed,
    redispatches: broken.redispatches + broken.retries,
    byVersion: broken.load.byVersion,
  },
  push: { exitCode: push.exitCode, forwardSeconds: push.forwardSeconds, failures: push.load.failures, latencyMs: push.load.latencyMs, byVersion: push.load.byVersion, http5xx: push.http5xx },
  baseline: { exitCode: baseline.exitCode, requests: baseline.load.requests, failed: baseline.load.failed, redispatches: baseline.redispatches + baseline.retries },
};
console.log(JSON.stringify(result, null, 2));
