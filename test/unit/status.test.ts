import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Balancer, Member } from '../../src/balancers/types.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { journalDir } from '../../src/engine/journal.js';
import { ReleaseLock, type LockDetails } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { LockHeldError } from '../../src/errors.js';
import { ForeignLockError, holdLock, releaseLock } from '../../src/release/lock-commands.js';
import { gatherStatus } from '../../src/release/status.js';
import { statusText } from '../../src/render/status.js';
import { appPaths, readCurrent } from '../../src/steps/host-commands.js';
import { RecordingTransports } from '../../src/transport/recording.js';

const NOW = new Date('2026-11-27T12:00:00Z');
let dir: string;
let config: Config;
let lockFile: string | undefined;
let members: Member[];
let transports: RecordingTransports;
let session: Session;

const member = (name: string, state: Member['state'], sessions = 0, healthy = true): Member => ({ name, address: '10.0.0.1', state, healthy, sessions, queued: 0 });

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
  members = [member('web1a', 'drain', 3), member('web2a', 'drain', 0), member('web1b', 'ready', 12), member('web2b', 'ready', 9, false)];
  const releases: Record<string, string> = { w1a: 'v2-2222222', w2a: 'v2-2222222', w1b: 'v1-1111111', w2b: 'v1-1111111' };
  // The lock directory on the balancer host, kept in memory: create (atomic), details, write, remove.
  transports = new RecordingTransports({
    responses: [
      { match: (argv) => argv[2] === readCurrent(appPaths('/srv/shop'))[2], answer: (_a, host) => (host === 'w2b' ? { code: 255, stderr: 'ssh: connect to host w2b port 22: Connection refused' } : { stdout: `${releases[host]}\n` }) },
    ],
  });
  const balancer = { driver: 'haproxy', members: async () => members } as unknown as Balancer;
  session = { config, transports, balancer, lock: memoryLock(config.lock.lease), addressOf: async () => [], close: async () => undefined };
});

/** The release lock's contract, in memory: a live lock of another run is refused, an expired one or our own run's taken over. */
function memoryLock(leaseMs: number): ReleaseLock {
  const read = async (): Promise<LockDetails | null> => (lockFile ? (JSON.parse(lockFile) as LockDetails) : null);
  return {
    read,
    async acquire(who: Omit<LockDetails, 'since' | 'expires'>, now = new Date()) {
      const holder = await read();
      if (holder && holder.run !== who.run && Date.parse(holder.expires) > now.getTime()) throw new LockHeldError(`release lock is held by ${holder.by}`, { ...holder });
      const details = { ...who, since: now.toISOString(), expires: new Date(now.getTime() + leaseMs).toISOString() };
      lockFile = JSON.stringify(details);
      return details;
    },
    async release(run?: string, force = false) {
      const holder = await read();
      if (holder && !force && holder.run !== run) return false;
      lockFile = undefined;
      return true;
    },
    async renew() {},
  } as unknown as ReleaseLock;
}

function heldBy(by: string, over: Partial<LockDetails> = {}): void {
  lockFile = JSON.stringify({ by, reason: 'push v9', tag: 'v9', run: 'r-1', since: '2026-11-27T11:50:00.000Z', expires: '2026-11-27T12:20:00.000Z', ...over });
}

describe('status', () => {
  it('shows which cluster serves, the release per host, sessions and health per member, and an unreachable host', async () => {
    const s = await gatherStatus(session, NOW);
    expect(s.clusters.map((c) => [c.id, c.serving, c.inPool, c.releases])).toEqual([
      ['a', 'no', [], ['v2-2222222']],
      ['b', 'all', ['web1b', 'web2b'], ['v1-1111111', '(none)']],
    ]);
    expect(s.hosts.find((h) => h.host === 'w1a')).toMatchObject({ member: 'web1a', state: 'drain', sessions: 3, healthy: true, release: 'v2-2222222' });
    expect(s.hosts.find((h) => h.host === 'w2b')).toMatchObject({ state: 'ready', healthy: false, error: expect.stringMatching(/Connection refused/) });
    expect(s.problems).toEqual(['w2b: ssh: connect to host w2b port 22: Connection refused']);
    expect(s.lock).toBeNull();
    const text = statusText(s);
    expect(text).toMatch(/^shop: cluster b on v1-1111111 \+ \(none\) in the pool of haproxy lb\.test backend web/);
    expect(text).toMatch(/cluster a \(prod-a\.test\): out of the pool\n +w1a +web1a +drain +healthy +3 sessions +runs v2-2222222/);
    expect(text).toMatch(/w2b .*FAILING .*unreachable: .*Connection refused/);
    expect(text).toContain('lock: free');
  });

  it('shows the lock (holder, reason, expiry) and whether its lease ran out', async () => {
    heldBy('alice@ci');
    expect((await gatherStatus(session, NOW)).lock).toMatchObject({ by: 'alice@ci', reason: 'push v9', expired: false });
    expect(statusText(await gatherStatus(session, NOW))).toContain('lock: held by alice@ci since 2026-11-27T11:50:00.000Z (v9): push v9; expires 2026-11-27T12:20:00.000Z');
    expect((await gatherStatus(session, new Date('2026-11-27T13:00:00Z'))).lock?.expired).toBe(true);
  });

  it('shows a run that was killed, with the step it left pending', async () => {
    mkdirSync(journalDir(dir), { recursive: true });
    const lines = [
      { ts: '2026-11-27T11:00:00.000Z', event: 'run-begin', command: 'push', plan: 'sha256:p', tag: 'v2', by: 'ci', steps: ['lock', 'drain-a'] },
      { ts: '2026-11-27T11:00:01.000Z', event: 'step-ok', step: 'lock', phase: 'forward', ms: 5 },
      { ts: '2026-11-27T11:00:02.000Z', event: 'step-begin', step: 'drain-a', kind: 'drain', title: 'drain cluster a', phase: 'forward' },
    ];
    writeFileSync(join(journalDir(dir), 'r-1.jsonl'), lines.map((l) => JSON.stringify({ run: 'r-1', ...l })).join('\n'));
    heldBy('ci', { expires: '2026-11-27T11:30:00.000Z' }); // its lease ran out: nobody is running it
    const s = await gatherStatus(session, NOW);
    expect(s.lastRun).toMatchObject({ run: 'r-1', outcome: 'unfinished', running: false, completed: ['lock'], pending: { step: 'drain-a' } });
    expect(statusText(s)).toMatch(/last run: push v2 by ci .*INTERRUPTED \(run r-1\) after lock\n {2}pending step: drain-a \(forward\)/);
    heldBy('ci', { run: 'r-1' }); // a live lease held by that run: it is still going
    expect((await gatherStatus(session, NOW)).lastRun?.running).toBe(true);
  });
});

describe('lock and unlock', () => {
  it('takes the lock with a reason and a lease, and renews it when taken again by the same person', async () => {
    const withLease = (ms: number) => memoryLock(ms);
    const first = await holdLock(session, { by: 'ada', reason: 'freeze', leaseMs: 60_000, now: NOW }, withLease);
    expect(first).toMatchObject({ by: 'ada', reason: 'freeze', expires: '2026-11-27T12:01:00.000Z' });
    expect(first.run).toMatch(/^manual-/);
    const again = await holdLock(session, { by: 'ada', reason: 'freeze, longer', leaseMs: 3_600_000, now: NOW }, withLease);
    expect(again).toMatchObject({ run: first.run, reason: 'freeze, longer', expires: '2026-11-27T13:00:00.000Z' });
  });

  it('refuses to take a live lock someone else holds (exit 4), naming them', async () => {
    heldBy('alice@ci');
    const err = await holdLock(session, { by: 'ada', reason: 'freeze', now: NOW }, memoryLock).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as Error).message).toMatch(/held by alice@ci/);
  });

  it('releases your own lock; someone else\'s only with --force, naming the holder', async () => {
    heldBy('alice@ci');
    const err = await releaseLock(session, { by: 'ada', now: NOW }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForeignLockError);
    expect((err as ForeignLockError).exitCode).toBe(4);
    expect((err as Error).message).toMatch(/held by alice@ci since .*: push v9; it expires/);
    expect(lockFile).toBeDefined();
    expect(await releaseLock(session, { by: 'ada', force: true, now: NOW })).toMatchObject({ released: true, forced: true, holder: { by: 'alice@ci' } });
    expect(lockFile).toBeUndefined();
    heldBy('ada');
    expect(await releaseLock(session, { by: 'ada', now: NOW })).toMatchObject({ released: true, forced: false });
  });

  it('releases an expired lock without --force, and says when there was none', async () => {
    heldBy('alice@ci', { expires: '2026-11-27T11:59:59.000Z' });
    expect(await releaseLock(session, { by: 'ada', now: NOW })).toMatchObject({ released: true, expired: true, forced: false });
    expect(await releaseLock(session, { by: 'ada', now: NOW })).toEqual({ released: false, holder: null, expired: false, forced: false });
  });
});
