// npm run bench:pair
// Two HAProxy balancers (lb, lb2) behind keepalived's floating address, load through that
// address: a push v1 → v2 with every pool change on both (balancer.peers); then a push back to
// v1 during which the active balancer goes away (its keepalived stopped once lb2 has cluster a
// drained). Prints requests and failed requests at the client, redispatches on both balancers,
// push seconds, how long the address took to move, and — from a watcher opening a new
// connection every 20 ms — answers sent and answered while their cluster was out of the pool
// (must be 0), answers sent then but answered after it was back (a connection attempt lost in
// the failover and resent: counted apart), and failed answers, all of which should fall inside
// the failover.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { readJournal, type JournalRecord } from '../src/engine/journal.js';
import { watchAnswers } from '../test/lab/answer-watcher.js';
import { asRoot } from '../test/lab/as-root.js';
import { startLoad } from '../test/lab/load.js';
import { labAppClusters, writeLabConfig } from './lab-config.js';
import { DEFAULT_LOAD, labUp, ROOT, round } from './lab-push.js';
import { outOfPoolAnswers, type OutOfPoolWindow } from './out-of-pool.js';

const VIP = 'http://10.213.7.8';
const KEEPALIVED = 'keepalived -f /etc/keepalived/keepalived.conf -p /run/keepalived.pid -r /run/keepalived-vrrp.pid';

labUp(2);
// As root, through the lab's console: keepalived is stopped and started behind baton's back.
const onHost = asRoot;
const baton = (...args: string[]) =>
  execa('node', [`${ROOT}/bin/run.js`, ...args], { reject: false, env: { CI: '1', BATON_USER: 'bench-pair' } });
const vipOnLb = async () => (await onHost('lb.baton.test', 'ip -4 -o addr show eth0')).includes('10.213.7.8/');
const statusOn = async (host: string, member: string) => {
  const csv = await onHost(host, 'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock');
  return (
    csv
      .split('\n')
      .find((l) => l.split(',')[1] === member)
      ?.split(',')[17] ?? ''
  );
};
const redispatches = async () => {
  let n = 0;
  for (const host of ['lb.baton.test', 'lb2.baton.test']) {
    const row =
      (await onHost(host, 'echo "show stat web 2 -1" | socat stdio /run/haproxy/admin.sock'))
        .split('\n')[1]
        ?.split(',') ?? [];
    n += Number(row[15] ?? 0) + Number(row[16] ?? 0); // wretr, wredis
  }
  return n;
};
async function until(ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
const restoreKeepalived = async () => {
  await onHost(
    'lb.baton.test',
    `[ -f /run/keepalived.pid ] && kill -0 "$(cat /run/keepalived.pid)" 2>/dev/null || ${KEEPALIVED}`,
  );
  await until(vipOnLb);
};

await restoreKeepalived();
const config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-bench-pair-')), 'baton.yml'), [
  [['balancer', 'peers'], ['lb2.baton.test']],
  [['balancer', 'serverStateFile'], '/var/lib/haproxy/server-state'],
]);
if ((await baton('push', 'v1', '-c', config)).exitCode !== 0) throw new Error('could not put v1 on every host');

async function measure(tag: string, failover: boolean) {
  const before = await redispatches();
  const load = startLoad({ url: `${VIP}/`, seconds: 3600, concurrency: DEFAULT_LOAD.concurrency, timeout: 15_000 });
  const slow = startLoad({
    url: `${VIP}/`,
    seconds: 3600,
    concurrency: DEFAULT_LOAD.slowClients,
    slowEvery: 1,
    slowPath: '/slow?ms=2000',
    timeout: 15_000,
  });
  const watcher = watchAnswers(`${VIP}/version`, 20);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  const push = baton('push', tag, '-c', config, '--json');
  let failedOverAt: number | undefined;
  let addressMovedSeconds: number | undefined;
  if (failover) {
    await until(async () => (await statusOn('lb2.baton.test', 'web1a')).startsWith('DRAIN'));
    failedOverAt = Date.now();
    await onHost('lb.baton.test', 'kill "$(cat /run/keepalived.pid)"');
    await until(async () => !(await vipOnLb()));
    addressMovedSeconds = round((Date.now() - failedOverAt) / 1000);
  }
  const r = await push;
  const seconds = round((performance.now() - t0) / 1000);
  await new Promise((res) => setTimeout(res, 1000));
  const [fast, held, answers] = [await load.stop(), await slow.stop(), await watcher.stop()];
  if (failover) await restoreKeepalived();
  const journal: JournalRecord[] =
    r.exitCode === 0 ? readJournal((JSON.parse(r.stdout) as { journal: string }).journal) : [];
  const ts = (event: string, step: string) =>
    new Date(journal.find((e) => e.event === event && 'step' in e && e.step === step)?.ts ?? NaN).getTime();
  const window = (c: 'a' | 'b'): OutOfPoolWindow => [ts('step-ok', `drain-${c}`), ts('step-begin', `ready-${c}`)];
  const sentInWindow = outOfPoolAnswers(answers, labAppClusters(), { a: window('a'), b: window('b') });
  const failed = answers.filter((a) => a.status !== 200);
  return {
    tag,
    exitCode: r.exitCode,
    pushSeconds: seconds,
    requests: fast.requests + held.requests,
    failed: fast.failed + held.failed,
    connectionErrors: { ...fast.connectionErrors, ...held.connectionErrors },
    redispatches: (await redispatches()) - before,
    watcher: {
      answers: answers.length,
      failed: failed.length,
      answersFromAClusterOutOfThePool: sentInWindow.outOfPool.length,
      answersSentInWindowAnsweredAfter: sentInWindow.sentInWindowAnsweredAfter.length,
      ...(failedOverAt !== undefined
        ? {
            failedOutside5sOfFailover: failed.filter((f) => f.at < failedOverAt - 100 || f.at > failedOverAt + 5000)
              .length,
          }
        : {}),
    },
    ...(addressMovedSeconds !== undefined ? { addressMovedSeconds } : {}),
  };
}

const push = await measure('v2', false);
const failover = await measure('v1', true);
console.log(JSON.stringify({ push, failover }, null, 2));
