// npm run bench:push -- [--driver haproxy|apache|nginx] [--per-cluster N] [--concurrency N] [--slow-clients N] [--pad
//   SECONDS] [--notify slow] [--build once|host [--build-seconds S]]
// With --notify slow the v1→v2 push runs once more telling a receiver on loopback that never
// answers (notify: in baton.yml): `notifySlow.pushSeconds` beside the plain push's seconds.
// With --build once the pushes deploy an artifact built once (artifact:, a build of about S seconds
// of one core's CPU) on this machine, with --build host on the lab's build host new-web; v2 is
// removed from every host and the cache emptied first, so the measured push builds and sends it:
// `build` gives where, the stage step's seconds and the bytes it sent.
// Pushes v1→v2 and v3-broken under load with baton through the chosen balancer of the lab, and
// (HAProxy only: the script drains through its runtime API) the same push with a hand-written
// shell script side by side; prints failed requests, the balancer's own retries/redispatches
// (from the driver's counters()) and seconds as JSON, in the same shape for every driver.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { driverOverrides, labAppClusters, type LabDriver, publicPort, writeLabConfig } from './lab-config.js';
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
  options: {
    ...LOAD_OPTIONS,
    driver: { type: 'string', default: 'haproxy' },
    // `--notify slow`: the same push again, telling a receiver on loopback that never answers.
    notify: { type: 'string' },
    // `--build once|host`: the release built once (here, or on the lab's build host) and uploaded.
    build: { type: 'string' },
    'build-seconds': { type: 'string', default: '3' },
  },
});
if (values.build !== undefined && values.build !== 'once' && values.build !== 'host')
  throw new Error(`--build ${values.build}: expected once or host`);
const DRIVERS: readonly LabDriver[] = ['haproxy', 'apache', 'nginx', 'nginx-lua'];
if (!DRIVERS.includes(values.driver as LabDriver))
  throw new Error(`--driver ${values.driver}: expected one of ${DRIVERS.join(', ')}`);
const driver = values.driver as LabDriver;
const url = publicUrlOf(publicPort(driver));
const perCluster = Number(values['per-cluster']);
const shape = shapeOf(values);

labUp(perCluster);
const BUILD_HOST = 'new-web.baton.test';
const cache = values.build ? mkdtempSync(join(tmpdir(), 'baton-bench-push-cache-')) : undefined;
// Busy work for one core, then a file only the build makes: stands in for `npm ci && npm run build`.
const busyBuild = (s: number) =>
  `node -e 'const end = Date.now() + ${Math.round(s * 1000)}; let x = 0; while (Date.now() < end) ` +
  `x += Math.sqrt(x + 1); console.log(x)' > built.txt`;
const artifact = cache
  ? {
      build: busyBuild(Number(values['build-seconds'])),
      cache,
      ...(values.build === 'host' ? { host: BUILD_HOST } : {}),
    }
  : undefined;
const config = writeLabConfig(`/run/baton-lab/baton.${driver}.bench.yml`, [
  ...driverOverrides(driver),
  ...(artifact ? [[['artifact'], artifact] as [string[], unknown]] : []),
]);
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1 before measuring');
if (cache) {
  // Every host without v2 or a kept artifact, the cache empty: the measured push builds v2 and sends it to all.
  const short = execFileSync('git', ['-C', '/run/baton-lab/repo', 'rev-parse', '--short=7', 'v2^{commit}'], {
    encoding: 'utf8',
  });
  const v2 = `v2-${short.trim()}`;
  for (const h of Object.keys(labAppClusters()))
    execFileSync('ssh', [
      '-F',
      '/run/baton-lab/ssh_config',
      h,
      `rm -rf /srv/shop/releases/${v2} /srv/shop/releases/.artifacts`,
    ]);
  rmSync(cache, { recursive: true, force: true });
}

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
const notified = values.notify === 'slow' ? await pushTellingASlowReceiver() : undefined;

/**
 * v1 → v2 again, with every event sent to a receiver on loopback that takes each request and
 * never answers: the push must take the time it takes without notifications (they go out in the
 * background; at the end of the run, what is still on its way after 0.2 s is handed to a detached
 * process), then back to v1. `received` counts that process's requests too when they came in time.
 */
async function pushTellingASlowReceiver() {
  const held: Array<() => void> = [];
  let received = 0;
  const receiver: Server = createServer((req) => {
    received++;
    held.push(() => req.socket.destroy());
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
  const slowConfig = writeLabConfig(`/run/baton-lab/baton.${driver}.notify.bench.yml`, [
    ...driverOverrides(driver),
    [['notify'], [{ url: receiverUrl, format: 'webhook' }]],
  ]);
  try {
    const m = await measurePush('v2', shape, slowConfig, url);
    // forwardSeconds: the steps alone (journal span); pushSeconds: the command, the hand-over at its end included.
    return {
      pushSeconds: m.seconds,
      forwardSeconds: m.forwardSeconds,
      failed: m.load.failed,
      exitCode: m.exitCode,
      received,
    };
  } finally {
    held.forEach((end) => end());
    receiver.closeAllConnections();
    receiver.close();
    await quietPush('v1', config);
  }
}

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
  ...(artifact && {
    build: {
      where: values.build === 'host' ? BUILD_HOST : 'this machine',
      buildSeconds: Number(values['build-seconds']),
      stageSeconds: push.stageSeconds ?? null,
      sentBytes: push.stageSentBytes ?? null,
    },
  }),
  // --notify slow: the same push telling a receiver that never answers, and its seconds beside the plain push's.
  ...(notified && { notifySlow: { ...notified, plainPushSeconds: push.seconds } }),
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
if (cache) rmSync(cache, { recursive: true, force: true });
console.log(JSON.stringify(result, null, 2));
