import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BalancerSet } from '../../src/balancers/balancer-set.js';
import type { Balancer, Member } from '../../src/balancers/types.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import { journalDir } from '../../src/engine/journal.js';
import { ReleaseLock, type LockDetails, UnreadableLockError } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { ExitCode, LockHeldError } from '../../src/errors.js';
import { ForeignLockError, holdLock, releaseLock } from '../../src/release/lock-commands.js';
import { GONE_AFTER_MS, lockLiveness } from '../../src/release/liveness.js';
import { gatherStatus, statusExitCode } from '../../src/release/status.js';
import { statusText } from '../../src/render/status.js';
import { appPaths, readCurrent } from '../../src/model/host-commands.js';
import { TransportError } from '../../src/transport/errors.js';
import { RecordingTransports } from '../../src/transport/recording.js';

const NOW = new Date('2026-11-27T12:00:00Z');
let dir: string;
let config: Config;
let lockFile: string | undefined;
/** The lock host's clock, against which a heartbeat's age is measured. */
let hostNow: Date;
let members: Member[];
/** Hosts whose ssh connection is refused. */
let down: Set<string>;
let transports: RecordingTransports;
let session: Session;

const member = (name: string, state: Member['state'], sessions = 0, healthy = true): Member => ({
  name,
  address: '10.0.0.1',
  state,
  healthy,
  sessions,
  queued: 0,
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-status-'));
  config = parseConfig(
    `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb.test, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: web1a }, { host: w2a, member: web2a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: web1b }, { host: w2b, member: web2b }] }
lock: { lease: 30m }
`,
    join(dir, 'baton.yml'),
  ).config as Config;
  lockFile = undefined;
  hostNow = NOW;
  down = new Set();
  members = [
    member('web1a', 'drain', 3),
    member('web2a', 'drain', 0),
    member('web1b', 'ready', 12),
    member('web2b', 'ready', 9, false),
  ];
  const releases: Record<string, string> = {
    w1a: 'v2-2222222',
    w2a: 'v2-2222222',
    w1b: 'v1-1111111',
    w2b: 'v1-1111111',
  };
  transports = new RecordingTransports({
    responses: [
      {
        match: (_argv, host) => down.has(host),
        answer: (_a, host) => ({ code: 255, stderr: `ssh: connect to host ${host} port 22: Connection refused` }),
      },
      {
        match: (argv) => argv[2] === readCurrent(appPaths('/srv/shop'))[2],
        answer: (_a, host) => ({ stdout: `${releases[host]}\n` }),
      },
    ],
  });
  const balancer = { driver: 'haproxy', members: async () => members } as unknown as Balancer;
  session = {
    config,
    transports,
    balancer,
    lock: memoryLock(config.lock.lease),
    secrets: new Secrets(),
    addressOf: async () => [],
    close: async () => undefined,
  };
});

/**
 * The release lock's contract, in memory: a live lock of another run is refused, an expired one or our own run's taken
 * over.
 */
function memoryLock(leaseMs: number): ReleaseLock {
  const read = async (): Promise<LockDetails | null> => {
    if (lockFile === UNREADABLE)
      throw new UnreadableLockError('lb.test', ['read lock', '/l'], 2, 'cat: details.json: No such file or directory');
    return lockFile ? (JSON.parse(lockFile) as LockDetails) : null;
  };
  return {
    read,
    inspect: async () => ({ details: await read(), hostNow }),
    async acquire(who: Omit<LockDetails, 'since' | 'expires'>, now = new Date()) {
      const holder = await read();
      if (holder && holder.run !== who.run && Date.parse(holder.expires) > now.getTime())
        throw new LockHeldError(`release lock is held by ${holder.by}`, { ...holder });
      const details = { ...who, since: now.toISOString(), expires: new Date(now.getTime() + leaseMs).toISOString() };
      lockFile = JSON.stringify(details);
      return details;
    },
    async release(run?: string, force = false) {
      const holder = lockFile === UNREADABLE ? null : await read();
      if (holder && !force && holder.run !== run) return false;
      lockFile = undefined;
      return true;
    },
    async renew() {},
  } as unknown as ReleaseLock;
}

const UNREADABLE = 'a lock directory without details';

function heldBy(by: string, over: Partial<LockDetails> = {}): void {
  lockFile = JSON.stringify({
    by,
    reason: 'push v9',
    tag: 'v9',
    run: 'r-1',
    since: '2026-11-27T11:50:00.000Z',
    expires: '2026-11-27T12:20:00.000Z',
    ...over,
  });
}

/** A push killed (or still going) after its lock step, in the middle of draining cluster a. */
function unfinishedRun(run = 'r-1'): void {
  mkdirSync(journalDir(dir), { recursive: true });
  const lines = [
    {
      ts: '2026-11-27T11:00:00.000Z',
      event: 'run-begin',
      command: 'push',
      plan: 'sha256:p',
      tag: 'v2',
      by: 'ci',
      steps: ['lock', 'drain-a'],
    },
    { ts: '2026-11-27T11:00:01.000Z', event: 'step-ok', step: 'lock', phase: 'forward', ms: 5 },
    {
      ts: '2026-11-27T11:00:02.000Z',
      event: 'step-begin',
      step: 'drain-a',
      kind: 'drain',
      title: 'drain cluster a',
      phase: 'forward',
    },
  ];
  writeFileSync(join(journalDir(dir), `${run}.jsonl`), lines.map((l) => JSON.stringify({ run, ...l })).join('\n'));
}

describe('status', () => {
  it('shows which cluster serves, the release per host, sessions and health per member; all read: exit 0', async () => {
    const s = await gatherStatus(session, NOW);
    expect(s.clusters.map((c) => [c.id, c.serving, c.inPool, c.releases])).toEqual([
      ['a', 'no', [], ['v2-2222222']],
      ['b', 'all', ['web1b', 'web2b'], ['v1-1111111']],
    ]);
    expect(s.hosts.find((h) => h.host === 'w1a')).toMatchObject({
      member: 'web1a',
      state: 'drain',
      sessions: 3,
      healthy: true,
      release: 'v2-2222222',
    });
    expect(s.hosts.find((h) => h.host === 'w2b')).toMatchObject({
      state: 'ready',
      healthy: false,
      release: 'v1-1111111',
    });
    expect(s.lock).toEqual({ state: 'free' });
    expect(s.unread).toEqual([]);
    expect(statusExitCode(s)).toBe(ExitCode.OK);
    const text = statusText(s);
    expect(text).toMatch(/^shop: cluster b on v1-1111111 in the pool of haproxy lb\.test backend web/);
    expect(text).toMatch(
      /cluster a \(prod-a\.test\): out of the pool\n +w1a +web1a +drain +healthy +3 sessions +runs v2-2222222/,
    );
    expect(text).toMatch(/w2b .*FAILING .*runs v1-1111111/);
    expect(text).toContain('lock: free');
    expect(text).not.toMatch(/incomplete/);
  });

  it('reports a host it cannot reach as unknown, not as running nothing, and exits 1', async () => {
    down.add('w2b');
    const s = await gatherStatus(session, NOW);
    expect(s.hosts.find((h) => h.host === 'w2b')).toMatchObject({
      state: 'ready',
      healthy: false,
      error: expect.stringMatching(/Connection refused/),
    });
    expect(s.hosts.find((h) => h.host === 'w2b')).not.toHaveProperty('release');
    expect(s.clusters[1]?.releases).toEqual(['v1-1111111', '(unknown)']);
    expect(s.unread).toEqual([
      { part: 'host', what: 'release on w2b', reason: 'ssh: connect to host w2b port 22: Connection refused' },
    ]);
    expect(statusExitCode(s)).toBe(ExitCode.FAILED_RESTORED);
    const text = statusText(s);
    expect(text).toMatch(/w2b .*FAILING .*release unknown \(ssh: connect to host w2b port 22: Connection refused\)/);
    expect(text).toMatch(
      /\nincomplete: could not read release on w2b; shown as unknown above \(nothing was changed\)$/,
    );
  });

  it(
    'with the balancer host unreachable: pool and lock unknown, never "no cluster" or "free"; ' +
      'the journal still tells the last run; exit 1',
    async () => {
      const refused = new TransportError('lb.test', 'cannot connect to lb.test (10.0.0.9:22): connect ETIMEDOUT');
      session.balancer = { driver: 'haproxy', members: async () => Promise.reject(refused) } as unknown as Balancer;
      transports.respond({ match: () => true, host: 'lb.test', answer: () => Promise.reject(refused) });
      // the real lock, over the same transport
      session.lock = new ReleaseLock(transports.get('lb.test'), config.lock.path, config.lock.lease);
      down.add('w1a');
      unfinishedRun();
      const s = await gatherStatus(session, NOW);
      expect(s.clusters.map((c) => [c.serving, c.inPool])).toEqual([
        ['unknown', undefined],
        ['unknown', undefined],
      ]);
      expect(s.hosts.every((h) => h.state === undefined)).toBe(true);
      expect(s.lock).toEqual({ state: 'unknown' });
      expect(s.unread.map((u) => [u.part, u.what])).toEqual([
        ['balancer', 'balancer lb.test'],
        ['host', 'release on w1a'],
        ['lock', 'lock on lb.test'],
      ]);
      expect(s.lastRun).toMatchObject({
        run: 'r-1',
        outcome: 'unfinished',
        running: null,
        pending: { step: 'drain-a' },
      });
      expect(statusExitCode(s)).toBe(ExitCode.FAILED_RESTORED);
      const text = statusText(s);
      expect(text).toMatch(
        new RegExp(
          /^shop: balancer lb\.test: unreadable \(cannot connect to lb\.test \(10\.0\.0\.9:22\): connect /.source +
            /ETIMEDOUT\) — pool unknown\n/.source,
        ),
      );
      expect(text).toContain('cluster a (prod-a.test): pool unknown');
      expect(text).toContain(
        'lock: unknown (could not read lb.test: cannot connect to lb.test (10.0.0.9:22): connect ETIMEDOUT)',
      );
      expect(text).toMatch(/last run: push v2 by ci .*: did not end, and whether it is still running is unknown/);
      expect(text).not.toMatch(/NO cluster|lock: free|running now|INTERRUPTED/);
      expect(text).toMatch(
        /incomplete: could not read balancer lb\.test, release on w1a, lock on lb\.test; shown as unknown above/,
      );
    },
  );

  it('finishes within its budget when reads hang, and says which did not answer', async () => {
    const never = new Promise<never>(() => undefined);
    session.balancer = { driver: 'haproxy', members: () => never } as unknown as Balancer;
    session.lock = { inspect: () => never } as unknown as ReleaseLock;
    const started = Date.now();
    const s = await gatherStatus(session, NOW, { budgetMs: 100 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(s.unread).toEqual([
      { part: 'balancer', what: 'balancer lb.test', reason: 'no answer within 0 s' },
      { part: 'lock', what: 'lock on lb.test', reason: 'no answer within 0 s' },
    ]);
    expect(statusExitCode(s)).toBe(ExitCode.FAILED_RESTORED);
  });

  it('reports members it cannot match to hosts as unknown', async () => {
    config.clusters.a.hosts = config.clusters.a.hosts.map((h) => ({ ...h, member: undefined }));
    members = members.map((m) => ({ ...m, address: m.name.endsWith('a') ? '10.0.0.2' : m.address }));
    const s = await gatherStatus(session, NOW);
    expect(s.unread.map((u) => u.part)).toEqual(['membership']);
    expect(s.clusters[0]).toMatchObject({ serving: 'unknown', inPool: [] });
    expect(statusText(s)).toMatch(/^which member is which host: unknown \(/m);
  });

  it('shows the lock (holder, reason, expiry) and whether its lease ran out', async () => {
    heldBy('alice@ci');
    expect((await gatherStatus(session, NOW)).lock).toMatchObject({
      state: 'held',
      by: 'alice@ci',
      reason: 'push v9',
      expired: false,
      liveness: { state: 'leased' },
    });
    expect(statusText(await gatherStatus(session, NOW))).toContain(
      'lock: held by alice@ci since 2026-11-27T11:50:00.000Z (v9): push v9; expires 2026-11-27T12:20:00.000Z',
    );
    expect((await gatherStatus(session, new Date('2026-11-27T13:00:00Z'))).lock).toMatchObject({
      expired: true,
      liveness: { state: 'expired' },
    });
  });

  it('a killed run whose lease ran out, with the step it left pending', async () => {
    unfinishedRun();
    heldBy('ci', { expires: '2026-11-27T11:30:00.000Z' }); // no heartbeat (an older baton), and its lease ran out
    const s = await gatherStatus(session, NOW);
    expect(s.lastRun).toMatchObject({
      run: 'r-1',
      outcome: 'unfinished',
      running: false,
      completed: ['lock'],
      pending: { step: 'drain-a' },
    });
    expect(statusText(s)).toMatch(
      /last run: push v2 by ci .*INTERRUPTED \(run r-1\) after lock\n {2}pending step: drain-a \(forward\)/,
    );
  });

  it(
    'a run that holds the lock without a heartbeat (older baton): ' + 'running as far as its live lease tells',
    async () => {
      unfinishedRun();
      heldBy('ci');
      const s = await gatherStatus(session, NOW);
      expect(s.lastRun?.running).toBe(true);
      expect(statusText(s)).toMatch(
        new RegExp(
          /running, as far as its lock tells \(no heartbeat recorded; lease until /.source +
            /2026-11-27T12:20:00\.000Z\), at drain-a \(run r-1\)/.source,
        ),
      );
    },
  );

  it('a run with a recent heartbeat is running now', async () => {
    unfinishedRun();
    heldBy('ci', { heartbeat: '2026-11-27T11:59:58.000Z' });
    const s = await gatherStatus(session, NOW);
    expect(s.lastRun?.running).toBe(true);
    const text = statusText(s);
    expect(text).toContain('; running now (heartbeat 2 s ago); expires');
    expect(text).toMatch(/last run: push v2 by ci .*: running now \(heartbeat 2 s ago\), at drain-a \(run r-1\)/);
  });

  it('a run whose heartbeat stopped is gone, though its lease is live', async () => {
    unfinishedRun();
    heldBy('ci', { heartbeat: '2026-11-27T11:59:20.000Z' });
    const s = await gatherStatus(session, NOW);
    expect(s.lock).toMatchObject({ expired: false, liveness: { state: 'gone', heartbeatAgoMs: 40_000 } });
    expect(s.lastRun?.running).toBe(false);
    const text = statusText(s);
    expect(text).toContain(
      'lock: held by ci since 2026-11-27T11:50:00.000Z (v9): push v9; no heartbeat for 40 s: ' +
        'the run is gone — `baton resume` or `baton rollback`; expires',
    );
    expect(text).toMatch(/INTERRUPTED \(run r-1\) \(no heartbeat for 40 s: the run is gone\) after lock/);
    expect(text).not.toMatch(/running now/);
  });

  it("measures the heartbeat on the lock host's clock, not ours", async () => {
    unfinishedRun();
    hostNow = new Date('2026-11-27T12:05:00Z'); // the lock host runs 5 min ahead of us
    heldBy('ci', { heartbeat: '2026-11-27T12:04:59.000Z' });
    expect((await gatherStatus(session, NOW)).lock).toMatchObject({
      liveness: { state: 'running', heartbeatAgoMs: 1_000 },
    });
  });

  it('a lock held by another run does not make the unfinished run live', async () => {
    unfinishedRun();
    heldBy('bob', { run: 'r-2', heartbeat: '2026-11-27T11:59:59.000Z' });
    expect((await gatherStatus(session, NOW)).lastRun?.running).toBe(false);
  });
});

describe('lock liveness', () => {
  const lock = (over: Partial<LockDetails> = {}): LockDetails => ({
    by: 'ci',
    reason: 'push',
    run: 'r-1',
    since: '2026-11-27T11:50:00.000Z',
    expires: '2026-11-27T12:20:00.000Z',
    ...over,
  });
  const at = (iso: string) => new Date(iso);

  it('a heartbeat up to five beats old is running; older is gone, whatever the lease says', () => {
    expect(lockLiveness(lock({ heartbeat: '2026-11-27T11:59:45.000Z' }), NOW, NOW)).toEqual({
      state: 'running',
      heartbeatAgoMs: GONE_AFTER_MS,
    });
    expect(lockLiveness(lock({ heartbeat: '2026-11-27T11:59:44.000Z' }), NOW, NOW)).toEqual({
      state: 'gone',
      heartbeatAgoMs: 16_000,
    });
    expect(GONE_AFTER_MS).toBe(15_000);
  });

  it('a heartbeat "from the future" (clock steps) counts as just now', () => {
    expect(lockLiveness(lock({ heartbeat: '2026-11-27T12:00:03.000Z' }), NOW, NOW)).toEqual({
      state: 'running',
      heartbeatAgoMs: 0,
    });
  });

  it('without a heartbeat, the lease decides: live or run out', () => {
    expect(lockLiveness(lock(), NOW, NOW)).toEqual({ state: 'leased' });
    expect(lockLiveness(lock(), NOW, at('2026-11-27T12:20:00Z'))).toEqual({ state: 'expired' });
  });
});

describe('status exit code', () => {
  it('is 0 only when nothing went unread, else 1 (read-only: nothing changed)', () => {
    expect(statusExitCode({ unread: [] })).toBe(0);
    expect(statusExitCode({ unread: [{ part: 'lock', what: 'lock on lb', reason: 'x' }] })).toBe(1);
  });
});

describe('lock and unlock', () => {
  it('takes the lock with a reason and a lease, and renews it when taken again by the same person', async () => {
    const withLease = (ms: number) => memoryLock(ms);
    const first = await holdLock(session, { by: 'ada', reason: 'freeze', leaseMs: 60_000, now: NOW }, withLease);
    expect(first).toMatchObject({ by: 'ada', reason: 'freeze', expires: '2026-11-27T12:01:00.000Z' });
    expect(first.run).toMatch(/^manual-/);
    const again = await holdLock(
      session,
      { by: 'ada', reason: 'freeze, longer', leaseMs: 3_600_000, now: NOW },
      withLease,
    );
    expect(again).toMatchObject({ run: first.run, reason: 'freeze, longer', expires: '2026-11-27T13:00:00.000Z' });
  });

  it('refuses to take a live lock someone else holds (exit 4), naming them', async () => {
    heldBy('alice@ci');
    const err = await holdLock(session, { by: 'ada', reason: 'freeze', now: NOW }, memoryLock).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as Error).message).toMatch(/held by alice@ci/);
  });

  it("releases your own lock; someone else's only with --force, naming the holder", async () => {
    heldBy('alice@ci');
    const err = await releaseLock(session, { by: 'ada', now: NOW }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForeignLockError);
    expect((err as ForeignLockError).exitCode).toBe(4);
    expect((err as Error).message).toMatch(/held by alice@ci since .*: push v9; it expires/);
    expect(lockFile).toBeDefined();
    expect(await releaseLock(session, { by: 'ada', force: true, now: NOW })).toMatchObject({
      released: true,
      forced: true,
      holder: { by: 'alice@ci' },
    });
    expect(lockFile).toBeUndefined();
    heldBy('ada');
    expect(await releaseLock(session, { by: 'ada', now: NOW })).toMatchObject({ released: true, forced: false });
  });

  it('removes a lock whose details cannot be read only with --force, saying so (exit 4 without)', async () => {
    lockFile = UNREADABLE;
    const err = await releaseLock(session, { by: 'ada', now: NOW }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).exitCode).toBe(4);
    expect((err as Error).message).toMatch(
      /details cannot be read; if no run is using it, `baton unlock --force --reason TEXT` removes it/,
    );
    expect(await releaseLock(session, { by: 'ada', force: true, now: NOW })).toEqual({
      released: true,
      holder: null,
      expired: false,
      forced: true,
    });
    expect(lockFile).toBeUndefined();
  });

  it('releases an expired lock without --force, and says when there was none', async () => {
    heldBy('alice@ci', { expires: '2026-11-27T11:59:59.000Z' });
    expect(await releaseLock(session, { by: 'ada', now: NOW })).toMatchObject({
      released: true,
      expired: true,
      forced: false,
    });
    expect(await releaseLock(session, { by: 'ada', now: NOW })).toEqual({
      released: false,
      holder: null,
      expired: false,
      forced: false,
    });
  });
});

describe('status with a pair of balancers', () => {
  const withPeer = (peerMembers: () => Member[] | Promise<Member[]>) => {
    config = { ...config, balancer: { ...config.balancer, peers: ['lb2.test'] } };
    const primary = { driver: 'haproxy', members: async () => members } as unknown as Balancer;
    const peer = { driver: 'haproxy', members: async () => peerMembers() } as unknown as Balancer;
    session = {
      ...session,
      config,
      balancer: new BalancerSet({ host: 'lb.test', balancer: primary }, [{ host: 'lb2.test', balancer: peer }]),
    };
  };

  it("shows every balancer, each member's state on each, and sessions through both", async () => {
    withPeer(() => members.map((m) => ({ ...m, sessions: 1 })));
    const s = await gatherStatus(session, NOW);
    expect(s.balancer.peers).toEqual(['lb2.test']);
    expect(s.divergent).toEqual([]);
    expect(s.hosts.find((h) => h.host === 'w1a')).toMatchObject({
      state: 'drain',
      sessions: 4,
      balancers: { 'lb.test': 'drain', 'lb2.test': 'drain' },
    });
    expect(statusText(s)).toContain('balancers: lb.test, lb2.test (agree)');
    expect(statusExitCode(s)).toBe(ExitCode.OK);
  });

  it('shows a disagreement instead of failing on it', async () => {
    withPeer(() => members.map((m) => (m.name === 'web1a' ? { ...m, state: 'ready' } : m)));
    const s = await gatherStatus(session, NOW);
    expect(s.divergent).toEqual(['web1a: drain on lb.test, ready on lb2.test']);
    const text = statusText(s);
    expect(text).toContain(
      'balancers disagree: web1a: drain on lb.test, ready on lb2.test (a push stops until they agree)',
    );
    expect(text).toMatch(/w1a +web1a +drain .*\(drain on lb\.test, ready on lb2\.test\)/);
    expect(s.clusters[0]?.serving).toBe('no'); // the primary's states
  });

  it("reports a peer it cannot read, still showing the primary's pool, and exits 1", async () => {
    withPeer(() => Promise.reject(new Error('ssh: connect to host lb2.test port 22: Connection refused')));
    const s = await gatherStatus(session, NOW);
    expect(s.unread).toEqual([
      { part: 'peer', what: 'balancer lb2.test', reason: 'ssh: connect to host lb2.test port 22: Connection refused' },
    ]);
    expect(s.clusters[1]?.serving).toBe('all');
    expect(statusText(s)).toContain(
      'balancer lb2.test: unreadable (ssh: connect to host lb2.test port 22: Connection refused)',
    );
    expect(statusExitCode(s)).toBe(ExitCode.FAILED_RESTORED);
  });
});
