// npm run demo: bring the lab up, drive load through the public frontend, push v2, then push
// v3-broken (baton reverses it by itself), and say what was measured.
import { writeLabConfig } from '../../bench/lab-config.js';
import { DEFAULT_LOAD, labUp, measurePush, quietPush, type PushMeasurement } from '../../bench/lab-push.js';

function line(label: string, m: PushMeasurement): string {
  const versions = Object.entries(m.load.byVersion)
    .map(([v, n]) => `${v}: ${n}`)
    .join(', ');
  return [
    `${label}`,
    `  exit code ${m.exitCode} (${m.outcome ?? 'unknown'}), ${m.seconds}` +
      `s from command start to end${m.reversalSeconds !== undefined ? `, reversal ${m.reversalSeconds}s` : ''}`,
    `  ${m.load.requests} requests, ${m.load.failed} failed (connection ${m.load.failures.connection}, ` +
      `non-2xx ${m.load.failures.non2xx}, timeout ${m.load.failures.timeout})`,
    `  balancer retries + redispatches: ${m.retries + m.redispatches}; answers by version: ${versions}`,
    `  latency p50 ${m.load.latencyMs.p50} ms, p99 ${m.load.latencyMs.p99} ms, max ${m.load.latencyMs.max} ms`,
  ].join('\n');
}

console.log('bringing the lab up (first time: installs Debian packages)…');
labUp(2);
const config = writeLabConfig();
console.log(`lab config: ${config}`);
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1');
console.log(
  `load: ${DEFAULT_LOAD.concurrency} clients on http://10.213.7.2/, ` +
    `and ${DEFAULT_LOAD.slowClients} more keeping 2 s requests in flight\n`,
);

const good = await measurePush('v2', DEFAULT_LOAD, config);
console.log(line('push v1 → v2', good));
const bad = await measurePush('v3-broken', DEFAULT_LOAD, config);
console.log(line('push v2 → v3-broken (health check fails: baton reverses it)', bad));

const ok =
  good.exitCode === 0 &&
  good.load.failed === 0 &&
  bad.exitCode === 1 &&
  bad.load.failed === 0 &&
  !bad.load.byVersion['v3-broken'];
console.log(
  '\n' +
    (ok
      ? 'zero failed requests; v3-broken never served a public request'
      : 'SOMETHING WENT WRONG: see the figures above'),
);
console.log('the lab keeps running: npm run lab:status, npm run lab:down');
process.exitCode = ok ? 0 : 1;
