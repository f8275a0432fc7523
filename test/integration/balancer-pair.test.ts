// Two HAProxy balancers (lb, lb2) with keepalived moving the floating address 10.213.7.8 between
// them, traffic through that address: every pool change goes to both and is read back from
// each; a failover in the middle of a push sends no request to a cluster while it is out of the
// pool; a balancer edited by hand to disagree stops a push before it drains anything; a drain
// survives a reload of HAProxy (server-state file).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { outOfPoolAnswers } from '../../bench/out-of-pool.js';
import { loadConfig } from '../../src/config/load.js';
import { openSession } from '../../src/engine/session.js';
import { readJournal, type JournalRecord } from '../../src/engine/journal.js';
import { watchAnswers } from '../lab/answer-watcher.js';
import { startLoad } from '../lab/load.js';
import { appHosts, currentReleases, cutSsh, onHost, readLab, restoreSsh } from './helpers/lab.js';
import { pushAndAct } from '../lab/signalled-push.js';

const VIP = 'http://10.213.7.8';
const BALANCERS = ['lb.baton.test', 'lb2.baton.test'];
const KEEPALIVED = 'keepalived -f /etc/keepalived/keepalived.conf -p /run/keepalived.pid -r /run/keepalived-vrrp.pid';
let config: string;

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'pair-test' } });
}

const runtime = (host: string, command: string) =>
  onHost(host, `echo "${command}" | socat stdio /run/haproxy/admin.sock`);

/** Member → its status column (UP, DRAIN, MAINT…) on one balancer. */
async function statuses(host: string): Promise<Record<string, string>> {
  const csv = await runtime(host, 'show stat web 4 -1');
  return Object.fromEntries(
    csv
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => {
        const c = l.split(',');
        return [c[1] as string, (c[17] ?? '').split(' ')[0] as string];
      }),
  );
}

const vipHolder = async () =>
  (await onHost('lb.baton.test', 'ip -4 -o addr show eth0')).includes('10.213.7.8/') ? 'lb' : 'lb2';

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** keepalived back on lb, and the address back with it (lb is MASTER): the lab as the next test expects it. */
async function restoreKeepalived(): Promise<void> {
  await onHost(
    'lb.baton.test',
    `[ -f /run/keepalived.pid ] && kill -0 "$(cat /run/keepalived.pid)" 2>/dev/null || ${KEEPALIVED}`,
  );
  await waitFor('the floating address back on lb', vipHolder, (h) => h === 'lb');
}

async function readyEverywhere(): Promise<void> {
  const members = appHosts(readLab()).map((h) => h.member as string);
  for (const host of BALANCERS) await runtime(host, members.map((m) => `set server web/${m} state ready`).join('; '));
}

beforeAll(async () => {
  await restoreKeepalived();
  await readyEverywhere();
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-pair-')), 'baton.yml'), [
    [['balancer', 'peers'], ['lb2.baton.test']],
    [['balancer', 'serverStateFile'], '/var/lib/haproxy/server-state'],
  ]);
  const r = await baton('push', 'v1', '-c', config);
  expect(r.exitCode, r.stderr).toBe(0);
});

afterAll(async () => {
  await restoreKeepalived();
  await readyEverywhere();
});

/** When each cluster was out of the pool, by the journal: from its drain's end to its return's start. */
function outOfPool(journal: JournalRecord[]): Record<'a' | 'b', [number, number]> {
  const ts = (event: string, prefix: string) =>
    new Date(journal.find((e) => e.event === event && 'step' in e && e.step.startsWith(prefix))?.ts ?? NaN).getTime();
  const window = (c: 'a' | 'b'): [number, number] => [ts('step-ok', `drain-${c}`), ts('step-begin', `ready-${c}`)];
  return { a: window('a'), b: window('b') };
}

describe('a pair of HAProxy balancers behind a floating address', () => {
  it(
    'pushes v1 → v2 through the floating address with 0 failed requests, ' + 'both balancers changed and in agreement',
    async () => {
      const load = startLoad({
        url: `${VIP}/`,
        seconds: 120,
        concurrency: 8,
        slowEvery: 10,
        slowPath: '/slow?ms=1000',
      });
      const r = await baton('push', 'v2', '-c', config, '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(0);
      expect(report.failed, JSON.stringify(report.failures)).toBe(0);
      const [one, two] = await Promise.all(BALANCERS.map(statuses));
      expect(one).toEqual(two);
      expect(Object.values(one ?? {}).every((s) => s === 'UP')).toBe(true);
      // Both were drained: each balancer's journaled sample or its own counters are not needed — the state file says
      // it.
      const saved = await onHost('lb2.baton.test', 'cat /var/lib/haproxy/server-state');
      expect(saved).toMatch(/web1a/);
      // The run record is on both balancers, whole: a failover loses no run.
      const { run } = JSON.parse(r.stdout) as { run: string };
      const record = `${dirname((await loadConfig(config)).lock.path)}/shop.runs/${run}.jsonl`;
      const [onLb, onLb2] = await Promise.all(BALANCERS.map((h) => onHost(h, `cat ${record}`)));
      expect(onLb).toBe(readFileSync(JSON.parse(r.stdout).journal as string, 'utf8').trimEnd());
      expect(onLb2).toBe(onLb);
      expect(await onHost('lb2.baton.test', `test -s ${record.replace(/\.jsonl$/, '.plan.json')} && echo plan`)).toBe(
        'plan',
      );
    },
  );

  it(
    'fails over to lb2 in the middle of a push: ' + 'no request reaches a cluster while it is out of the pool',
    async () => {
      const watcher = watchAnswers(`${VIP}/version`, 20);
      const load = startLoad({ url: `${VIP}/`, seconds: 120, concurrency: 4, slowEvery: 4, slowPath: '/slow?ms=1500' });
      const push = baton('push', 'v1', '-c', config, '--json');
      // Once lb2 has cluster a drained, the active balancer goes away.
      await waitFor(
        'cluster a drained on lb2',
        () => statuses('lb2.baton.test'),
        (s) => s['web1a'] === 'DRAIN',
      );
      const failedOverAt = Date.now();
      await onHost('lb.baton.test', 'kill "$(cat /run/keepalived.pid)"');
      await waitFor('the floating address on lb2', vipHolder, (h) => h === 'lb2');
      const r = await push;
      const [answers, report] = [await watcher.stop(), await load.stop()];
      expect(r.exitCode, r.stderr).toBe(0);
      for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v1-/);

      const windows = outOfPool(readJournal(JSON.parse(r.stdout).journal as string));
      const clusterOf = Object.fromEntries(appHosts(readLab()).map((h) => [h.name, h.cluster]));
      // Sent and answered inside the window: a request whose SYN was lost in the failover is served when it is resent,
      // maybe after.
      const { outOfPool: reached } = outOfPoolAnswers(answers, clusterOf, windows);
      expect(reached, 'answers from a cluster while it was out of the pool').toEqual([]);
      const failed = answers.filter((a) => a.status !== 200);
      for (const f of failed) expect(f.at - failedOverAt).toBeLessThan(5000);
      console.log(
        `failover: ${failed.length} of ${answers.length} watched requests failed, all within 5 s of it; ` +
          `load: ${report.failed} of ${report.requests} failed`,
      );
      await restoreKeepalived();
    },
  );

  it('refuses to push while lb2 disagrees (a member drained there by hand), before draining anything', async () => {
    await runtime('lb2.baton.test', 'set server web/web2b state drain');
    try {
      const before = await statuses('lb.baton.test');
      const r = await baton('push', 'v2', '-c', config);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/disagree/);
      expect(r.stderr).toMatch(/lb2\.baton\.test/);
      expect(r.stderr).toMatch(/web2b/);
      expect(r.stderr).not.toMatch(/step drain/);
      expect(await statuses('lb.baton.test')).toEqual(before);
    } finally {
      await runtime('lb2.baton.test', 'set server web/web2b state ready');
    }
  });

  it('keeps a drain through a reload of HAProxy on either balancer (the server-state file)', async () => {
    const session = await openSession(await loadConfig(config));
    try {
      await session.balancer.drain(['web1b']);
      for (const host of BALANCERS) {
        await onHost(
          host,
          'haproxy -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid -x /run/haproxy/admin.sock ' +
            '-sf "$(cat /run/haproxy.pid)"',
        );
      }
      for (const host of BALANCERS)
        await waitFor(
          `web1b drained on ${host} after its reload`,
          () => statuses(host),
          (s) => s['web1b'] === 'DRAIN' && s['web1a'] === 'UP',
          10_000,
        );
      await session.balancer.ready(['web1b']);
      for (const host of BALANCERS) expect((await statuses(host))['web1b']).toBe('UP');
    } finally {
      await session.close();
    }
  });

  it(
    'loses lb (the lock host) in the middle of a push: the run stops; ' +
      'rollback --without-balancer lb puts production back through lb2, from the record lb2 holds',
    async () => {
      const from = Object.values(await currentReleases())[0]!.split('-')[0]!;
      const next = from === 'v1' ? 'v2' : 'v1';
      // Its own lock, and dead connections found in seconds (the lab's defaults would wait 10 s a try).
      const lost = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-pair-lost-')), 'baton.yml'), [
        [['balancer', 'peers'], ['lb2.baton.test']],
        [['balancer', 'serverStateFile'], '/var/lib/haproxy/server-state'],
        [['ssh', 'keepalive'], '1s'],
        [['ssh', 'connectTimeout'], '3s'],
      ]);
      let cut = false;
      try {
        // Once cluster a is switched: lb stops answering SSH and hands the floating address to lb2.
        const r = await pushAndAct(lost, next, 6, async () => {
          cutSsh('lb.baton.test');
          cut = true;
          await onHost('lb.baton.test', 'kill "$(cat /run/keepalived.pid)"');
        });
        expect(r.code, r.output).toBe(2);
        expect(r.output).toMatch(/lb\.baton\.test/);
        await waitFor('the floating address on lb2', vipHolder, (h) => h === 'lb2');

        const back = await baton('rollback', '--yes', '--json', '--without-balancer', 'lb.baton.test', '-c', lost);
        expect(back.exitCode, back.stderr).toBe(0);
        const rolled = JSON.parse(back.stdout) as { run: string; journal: string };
        expect(readFileSync(rolled.journal, 'utf8')).toContain(
          'balancer lb.baton.test left out by pair-test (--without-balancer): ' +
            'lb2.baton.test holds the release lock and the run record',
        );
        expect(new Set(Object.values(await currentReleases()).map((d) => d.split('-')[0]))).toEqual(new Set([from]));
        expect(Object.values(await statuses('lb2.baton.test')).every((st) => st === 'UP')).toBe(true);
        for (let i = 0; i < 6; i++)
          expect(
            (JSON.parse((await execa('curl', ['-s', '-m', '5', `${VIP}/version`])).stdout) as { version: string })
              .version,
          ).toBe(from);
        // The rollback's run is in lb2's copy of the record (lb could not be written).
        const record = `${dirname((await loadConfig(lost)).lock.path)}/shop.runs/${rolled.run}.jsonl`;
        expect(await onHost('lb2.baton.test', `cat ${record}`)).toBe(readFileSync(rolled.journal, 'utf8').trimEnd());
      } finally {
        if (cut) restoreSsh('lb.baton.test');
        await restoreKeepalived();
        await readyEverywhere();
      }
      // lb is back: the killed push's lock is still on it, and goes the way any dead run's does.
      const unlock = await baton(
        'unlock',
        '--force',
        '--reason',
        'lb was lost mid-push; rolled back through lb2',
        '--yes',
        '-c',
        lost,
      );
      expect(unlock.exitCode, unlock.stderr).toBe(0);
    },
  );
});
