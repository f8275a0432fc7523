// The paths a release goes wrong on in real life, against the real lab under the push benchmark's
// load (16 keep-alive clients, 4 keeping 2 s requests in flight). Every case ends with: no failed
// public request and no balancer retry or redispatch (checked once for the whole file), every host
// on one release, the pool whole, the exit code from the map, and `status` reading everything with
// no lock left behind by a run that is gone.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { loadConfig } from '../../src/config/load.js';
import { startLoad, type LoadReport } from '../lab/load.js';
import {
  balancerCounters,
  currentReleases,
  cutSsh,
  onHost,
  readLab,
  readyAllHaproxyMembers,
  restoreSsh,
} from './helpers/lab.js';
import { pushAndAct, stepsDoneBefore } from '../lab/signalled-push.js';

let dir: string;
let config: string;
let tag = 'v1';
const loads: { stop(): Promise<LoadReport> }[] = [];
let countersBefore: { retries: number; redispatches: number };

// Dead connections are found in about 3 s (keepalive 1 s × 3), a host that never answers in 3 s.
const FAST_FAILING: [string[], unknown][] = [
  [['ssh', 'keepalive'], '1s'],
  [['ssh', 'connectTimeout'], '3s'],
];

function baton(args: string[], configFile = config) {
  return execa('node', ['bin/run.js', ...args, '-c', configFile], {
    reject: false,
    timeout: 120_000,
    env: { CI: '1', BATON_USER: 'fault-test' },
  });
}

/**
 * Every host on `expected`, the pool whole, the public side answering it, and status clean: read everything, no lock,
 * no run.
 */
async function expectSettledOn(expected: string) {
  const releases = [...new Set(Object.values(await currentReleases()))];
  expect(releases, 'every host on one release').toHaveLength(1);
  expect(releases[0]).toMatch(new RegExp(`^${expected}-`));
  const pool = (
    await onHost(
      'lb.baton.test',
      'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock | cut -d, -f2,18 | tail -n +2',
    )
  ).split('\n');
  expect(
    pool.every((l) => /,UP( \d+\/\d+)?$/.test(l)),
    pool.join(' '),
  ).toBe(true);
  const status = await baton(['status', '--json']);
  expect(status.exitCode, status.stderr).toBe(0);
  const s = JSON.parse(status.stdout) as { lock: { state: string }; unread: unknown[] };
  expect(s.unread).toEqual([]);
  expect(s.lock.state, 'no lock left behind').toBe('free');
}

const other = (t: string) => (t === 'v1' ? 'v2' : 'v1');

// Each case starts from a settled lab, whatever the one before left: the pool whole, every host
// on one release (the case's `tag`), and the bad-release marks of earlier cases forgotten.
beforeEach(async () => {
  readyAllHaproxyMembers();
  await onHost('lb.baton.test', `rm -f ${dirname((await loadConfig(config)).lock.path)}/shop.bad-releases`);
  const releases = [...new Set(Object.values(await currentReleases()))];
  if (releases.length !== 1) {
    const settle = await baton(['push', 'v1']);
    expect(settle.exitCode, settle.stderr).toBe(0);
  }
  tag = (releases.length === 1 ? (releases[0] as string) : 'v1').replace(/-[0-9a-f]{7}$/, '');
});

beforeAll(async () => {
  readyAllHaproxyMembers();
  dir = mkdtempSync(join(tmpdir(), 'baton-faults-'));
  config = writeLabConfig(join(dir, 'baton.yml'), FAST_FAILING);
  const first = await baton(['push', 'v1']);
  expect(first.exitCode, first.stderr).toBe(0);
  countersBefore = await balancerCounters(config);
  loads.push(startLoad({ url: 'http://10.213.7.2/', seconds: 3600, concurrency: 16, timeout: 15_000 }));
  loads.push(
    startLoad({
      url: 'http://10.213.7.2/',
      seconds: 3600,
      concurrency: 4,
      slowEvery: 1,
      slowPath: '/slow?ms=2000',
      timeout: 15_000,
    }),
  );
});

afterAll(async () => {
  const reports = await Promise.all(loads.map((l) => l.stop()));
  const after = await balancerCounters(config);
  expect(
    reports.map((r) => r.failed),
    JSON.stringify(reports.map((r) => r.failures)),
  ).toEqual([0, 0]);
  expect(reports[0]?.requests).toBeGreaterThan(1000);
  expect({
    retries: after.retries - countersBefore.retries,
    redispatches: after.redispatches - countersBefore.redispatches,
  }).toEqual({ retries: 0, redispatches: 0 });
});

describe('stop signals', () => {
  // lock, drain-a, stage, wait-drain-a, activate-a, smoke-a, ready-a, drain-b, wait-drain-b, activate-b, smoke-b,
  // ready-b, unlock
  const LAST_CHANGE = 12;
  it.each(Array.from({ length: 11 }, (_, i) => i + 1))(
    'SIGTERM once %i steps were done: the step ends, what ran is reversed, exit 1',
    async (k) => {
      const next = other(tag);
      const r = await pushAndAct(config, next, k, (child) => void child.kill('SIGTERM'));
      // A step of a few milliseconds (ready after a smoke check) can end before the signal is sent:
      // what is asserted follows where the run says the signal landed.
      const landedAfter = stepsDoneBefore(r.journal, /"message":"SIGTERM received/);
      expect(landedAfter, r.output).toBeGreaterThanOrEqual(k);
      if (landedAfter < LAST_CHANGE) {
        expect(r.code, r.output).toBe(1);
        expect(r.output).toMatch(/stopped by SIGTERM/);
      } else {
        expect([0, 1], r.output).toContain(r.code);
        if (r.code === 0) tag = next;
      }
      await expectSettledOn(tag);
    },
  );

  it.each([
    ['SIGINT', 2],
    ['SIGINT', 5],
    ['SIGHUP', 4],
    ['SIGHUP', 7],
  ] as const)('%s once %i steps were done is handled the same way', async (signal, k) => {
    const r = await pushAndAct(config, other(tag), k, (child) => void child.kill(signal));
    expect(stepsDoneBefore(r.journal, new RegExp(`"message":"${signal} received`)), r.output).toBeLessThan(LAST_CHANGE);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(new RegExp(`stopped by ${signal}`));
    await expectSettledOn(tag);
  });

  it(
    'a signal after the last step changed production lets the run end (0) or reverses it (1), ' +
      'never anything between',
    async () => {
      const next = other(tag);
      const r = await pushAndAct(config, next, LAST_CHANGE, (child) => void child.kill('SIGTERM'));
      expect([0, 1], r.output).toContain(r.code);
      if (r.code === 0) tag = next;
      await expectSettledOn(tag);
    },
  );

  it(
    'SIGKILL during the reversal a SIGTERM began (a CI runner out of patience): ' + 'resume finishes the reversal (1)',
    async () => {
      const r = await pushAndAct(config, other(tag), 6, async (child) => {
        child.kill('SIGTERM');
        const journals = join(dir, '.baton', 'journal');
        const newest = () =>
          join(
            journals,
            readdirSync(journals)
              .filter((f) => f.endsWith('.jsonl'))
              .sort()
              .at(-1) as string,
          );
        // The first undo has begun: the reversal is part-way.
        while (!/"event":"step-begin"[^\n]*"phase":"reverse"/.test(readFileSync(newest(), 'utf8')))
          await new Promise((res) => setTimeout(res, 5));
        child.kill('SIGKILL');
      });
      expect(r.code).toBeNull();
      const resumed = await baton(['resume']);
      expect(resumed.exitCode, resumed.stderr).toBe(1);
      expect(resumed.stderr).toMatch(/finishing its reversal|its reversal is finished/);
      await expectSettledOn(tag);
    },
  );

  it(
    'a second SIGINT stops at once (exit 2); ' + 'status says the run is gone, and rollback puts production back',
    async () => {
      const r = await pushAndAct(config, other(tag), 5, async (child) => {
        child.kill('SIGINT');
        await new Promise((res) => setTimeout(res, 20));
        child.kill('SIGINT');
      });
      expect(r.code, r.output).toBe(2);
      expect(r.output).toMatch(/stopped at once by a second SIGINT.*`baton resume`.*`baton rollback`/s);
      const status = await baton(['status']);
      expect(status.stdout).not.toMatch(/running now/);
      const back = await baton(['rollback', '--yes']);
      expect(back.exitCode, back.stderr).toBe(0);
      await expectSettledOn(tag);
    },
  );
});

describe('output and concurrency', () => {
  it('a push whose output pipe closes after the first line goes on to the end (exit 0)', async () => {
    const next = other(tag);
    const r = await pushAndAct(config, next, 0, () => undefined, { closeOutput: true });
    expect(r.code).toBe(0);
    tag = next;
    await expectSettledOn(tag);
  });

  it(
    'two pushes started at once: one goes through, ' + 'the other is refused by the lock (4) and changes nothing',
    async () => {
      const next = other(tag);
      const [x, y] = await Promise.all([baton(['push', next]), baton(['push', next])]);
      expect([x.exitCode, y.exitCode].sort(), `${x.stderr}\n${y.stderr}`).toEqual([0, 4]);
      expect([x, y].find((r) => r.exitCode === 4)?.stderr).toMatch(/release lock .* is held by/);
      tag = next;
      await expectSettledOn(tag);
    },
  );
});

describe('hosts that fail', () => {
  it(
    'a build that hangs fails the stage step by app.buildTimeout, ' + 'naming the hosts; production unchanged (1)',
    async () => {
      const hanging = writeLabConfig(join(dir, 'hanging-build.yml'), [
        ...FAST_FAILING,
        [['app', 'build'], 'sleep 600'],
        [['app', 'buildTimeout'], '2s'],
      ]);
      const r = await baton(['push', other(tag)], hanging);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /staging v\d-\w+ on web-\d\.prod-[ab]\.baton\.test did not finish within 2 s \(app\.buildTimeout\)/,
      );
      await expectSettledOn(tag);
    },
  );

  it(
    'the disk of one host full while the release unpacks: stage fails naming it and why, ' + 'production unchanged (1)',
    async () => {
      const victim = appHost('b');
      // A full filesystem over the releases folder of that host only (its own mount namespace); the
      // running app keeps the files it opened. Nothing of the machine's own disk is filled.
      const onVictim = (script: string) =>
        execFileSync('bash', ['test/lab/lab.sh', 'exec', victim, '--', 'sh', '-c', script]);
      onVictim(
        'mount -t tmpfs -o size=64k baton-full /srv/shop/releases && (dd if=/dev/zero ' +
          'of=/srv/shop/releases/.filler bs=4k 2>/dev/null; true)',
      );
      try {
        const r = await baton(['push', other(tag)]);
        expect(r.exitCode, r.stderr).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`${victim.replaceAll('.', '\\.')}: .*[\\s\\S]*No space left on device`));
      } finally {
        onVictim('umount /srv/shop/releases');
      }
      await expectSettledOn(tag);
    },
  );

  it(
    'smoke passing on one host of a cluster and failing on the other: reversed (1), ' +
      'naming the host and what came back',
    async () => {
      const picky = writeLabConfig(join(dir, 'picky-smoke.yml'), [
        ...FAST_FAILING,
        [['smoke', 'deadline'], '2s'],
        [['smoke', 'checks'], [{ path: '/', contains: 'on web-1.' }]],
        await sharedLock(),
      ]);
      const r = await baton(['push', other(tag)], picky);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/smoke checks failed on cluster a:[\s\S]*web-2\.prod-a\.baton\.test/);
      expect(r.stderr).not.toMatch(/web-1\.prod-a\.baton\.test:/);
      await expectSettledOn(tag);
    },
  );

  it(
    'a host key that changed between plan and apply: refused before anything changes (64: fix known_hosts), ' +
      'naming the host',
    async () => {
      const plan = join(dir, 'plan.json');
      expect((await baton(['plan', other(tag), '-o', plan])).exitCode).toBe(0);
      const knownHosts = join(dir, 'known_hosts');
      const victim = readLab().hosts.find((h) => h.role === 'app' && h.cluster === 'b') as { name: string };
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'impostor')]);
      const impostor = readFileSync(join(dir, 'impostor.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      const lines = readFileSync('/run/baton-lab/known_hosts', 'utf8').split('\n');
      writeFileSync(
        knownHosts,
        lines.map((l) => (l.startsWith(`${victim.name},`) ? `${l.split(' ')[0]} ${impostor}` : l)).join('\n'),
      );
      const tampered = writeLabConfig(join(dir, 'tampered.yml'), [
        ...FAST_FAILING,
        [['ssh', 'knownHosts'], knownHosts],
        await sharedLock(),
      ]);
      const r = await baton(['apply', plan], tampered);
      expect(r.exitCode, r.stderr).toBe(64);
      expect(r.stderr).toContain(victim.name);
      expect(r.stderr).toMatch(/HOST KEY CHANGED/);
      await expectSettledOn(tag);
    },
  );

  it(
    'an app host stops answering SSH while the release builds: ' + 'stage fails naming it, the rest is reversed (1)',
    async () => {
      const slowBuild = writeLabConfig(join(dir, 'slow-build.yml'), [
        ...FAST_FAILING,
        [['app', 'build'], 'sleep 2'],
        await sharedLock(),
      ]);
      const victim = appHost('b');
      const r = await pushWithSshCut(slowBuild, victim, 2);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(new RegExp(`FAILED stage .*${victim.replaceAll('.', '\\.')}: lost the connection`, 's'));
      expect(r.output).toMatch(/left behind: remove .* failed/);
      await expectSettledOn(tag);
    },
  );

  it(
    'an app host stops answering SSH as its cluster is switched: exit 2 (it cannot be put back), ' +
      'rollback finishes once it answers',
    async () => {
      const victim = appHost('a');
      const r = await pushWithSshCut(config, victim, 3);
      expect(r.code, r.output).toBe(2);
      expect(r.output).toContain(victim);
      const back = await baton(['rollback', '--yes']);
      expect(back.exitCode, back.stderr).toBe(0);
      await expectSettledOn(tag);
    },
  );

  it(
    'the balancer host stops answering SSH after the first cluster is switched: exit 2, ' +
      'and rollback finishes once it is back',
    async () => {
      const lb = readLab().balancer.host;
      const r = await pushWithSshCut(config, lb, 6);
      expect(r.code, r.output).toBe(2);
      expect(r.output).toMatch(new RegExp(lb.replaceAll('.', '\\.')));
      const back = await baton(['rollback', '--yes']);
      expect(back.exitCode, back.stderr).toBe(0);
      await expectSettledOn(tag);
      // The run record on lb fell behind while it did not answer; the next command caught it up.
      const journals = join(dirname(config), '.baton', 'journal');
      const push = readdirSync(journals)
        .filter((f) => f.endsWith('.jsonl'))
        .sort()
        .reverse()
        .find((f) => readFileSync(join(journals, f), 'utf8').includes(`"tag":"${other(tag)}"`))!;
      const recorded = await onHost(lb, `cat ${dirname((await loadConfig(config)).lock.path)}/shop.runs/${push}`);
      expect(recorded).toBe(readFileSync(join(journals, push), 'utf8').trimEnd());
      expect(recorded).toContain('"outcome":"reversed"');
    },
  );
});

function appHost(cluster: 'a' | 'b'): string {
  return (readLab().hosts.find((h) => h.role === 'app' && h.cluster === cluster) as { name: string }).name;
}

/**
 * Push with `configFile` and cut `host`'s SSH once `okSteps` steps are done; its SSH answers again when this returns.
 */
async function pushWithSshCut(configFile: string, host: string, okSteps: number) {
  let cut = false;
  try {
    return await pushAndAct(configFile, other(tag), okSteps, () => {
      cutSsh(host);
      cut = true;
    });
  } finally {
    if (cut) restoreSsh(host);
  }
}

/** The main config's lock path: a second config must contend for the same lock. */
async function sharedLock(): Promise<[string[], unknown]> {
  return [['lock', 'path'], (await loadConfig(config)).lock.path];
}
