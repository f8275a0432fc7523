// npm run bench:reload -- [--driver apache|nginx|nginx-lua] [--reloads N] [--every SECONDS] [--concurrency N]
//   [--slow-clients N]
// What a plain reload of the balancer costs, with no push at all: `apache2ctl graceful` or
// `nginx -s reload`, N times under the same load as bench:push, on the lab's lb. The seed warns
// that "an apachectl graceful will always interrupt someone"; this measures whether it does
// here, and how much of nginx's cost per push is its reloads. (HAProxy is left out: its driver
// never reloads.) With --driver nginx-lua (balancer.mode: lua) nothing reloads either: each of the
// N changes is a pool change through the driver — a member drained, then returned — which the
// Lua side loads from its state file; the same load measures what that costs. Prints failed
// requests by kind as JSON.
import { parseArgs } from 'node:util';
import { driverOverrides, type LabDriver, publicPort, writeLabConfig } from './lab-config.js';
import { LOAD_OPTIONS, ROOT, labUp, publicUrlOf, round, shapeOf, sleep, underLoad } from './lab-push.js';
import { loadConfig } from '../src/config/load.js';
import { openSession } from '../src/engine/session.js';

const { values } = parseArgs({
  options: {
    ...LOAD_OPTIONS,
    driver: { type: 'string', default: 'nginx' },
    reloads: { type: 'string', default: '4' },
    every: { type: 'string', default: '1' },
  },
});
const RELOAD: Partial<Record<LabDriver, string>> = {
  apache: 'apache2ctl graceful',
  nginx: 'nginx -s reload',
  'nginx-lua': 'a pool change through the driver (drain web1a, then ready it): no reload',
};
const driver = values.driver as LabDriver;
const reload = RELOAD[driver];
if (!reload) throw new Error(`--driver ${values.driver}: expected one of ${Object.keys(RELOAD).join(', ')}`);
const reloads = Number(values.reloads);
const every = Number(values.every);
if (!Number.isInteger(reloads) || reloads < 1 || !(every >= 0))
  throw new Error('--reloads must be a positive integer and --every a number of seconds');
const shape = shapeOf(values);

labUp(Number(values['per-cluster']));
const config = writeLabConfig(`/run/baton-lab/baton.${driver}.reload.yml`, driverOverrides(driver));
// One shell on lb runs the reloads, so ssh round trips do not space them out.
const script = `for i in $(seq 1 "$1"); do ${reload} || exit 1; sleep "$2"; done`;
const argv = [
  'bash',
  `${ROOT}/test/lab/lab.sh`,
  'exec',
  'lb',
  '--',
  'sh',
  '-c',
  script,
  'sh',
  String(reloads),
  String(every),
];
// Half the changes drain a member, half return it: `reloads` changes in all.
const poolChanges = async () => {
  const session = await openSession(await loadConfig(config));
  try {
    for (let i = 0; i < reloads; i++) {
      await (i % 2 === 0 ? session.balancer.drain(['web1a']) : session.balancer.ready(['web1a']));
      await sleep(every * 1000);
    }
    await session.balancer.ready(['web1a']);
    return { code: 0, stdout: '' };
  } finally {
    await session.close();
  }
};
const r = await underLoad(
  argv,
  shape,
  config,
  publicUrlOf(publicPort(driver)),
  driver === 'nginx-lua' ? poolChanges : undefined,
);
if (r.exitCode !== 0) throw new Error(`${reload} failed on lb (exit ${r.exitCode})`);

console.log(
  JSON.stringify(
    {
      driver,
      reload,
      reloads,
      load: shape,
      requests: r.load.requests,
      // failed: what a client that never retries sees; failedAfterRetry: one that resends an
      // idempotent request reset on a reused keep-alive connection (browsers, Go, curl).
      failed: r.load.failed,
      failedPerReload: round(r.load.failed / reloads),
      failedAfterRetry: r.load.failedAfterRetry,
      resetOnReusedConnection: r.load.failures.resetOnReusedConnection,
      failures: r.load.failures,
      connectionErrors: r.load.connectionErrors,
      redispatches: r.redispatches + r.retries,
      seconds: r.seconds,
    },
    null,
    2,
  ),
);
