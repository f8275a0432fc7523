import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExternalCommandError } from '../../src/errors.js';
import { keepLeaseAlive, ReleaseLock, UnreadableLockError } from '../../src/engine/lock.js';
import { LocalTransport } from '../../src/transport/local.js';
import { RecordingTransports } from '../../src/transport/recording.js';

// The lock's shell scripts, run for real on this machine: the lock directory is a temp dir.
let dir: string;
const lockIn = () => {
  dir = join(mkdtempSync(join(tmpdir(), 'baton-lock-')), 'lock');
  return new ReleaseLock(new LocalTransport(), dir, 60_000);
};

describe('release lock heartbeat', () => {
  afterEach(() => vi.useRealTimers());

  it('reads no lock as free, with the host clock', async () => {
    const r = await lockIn().inspect();
    expect(r.details).toBeNull();
    expect(Math.abs(r.hostNow.getTime() - Date.now())).toBeLessThan(5_000);
  });

  it('beats only for the run that holds the lock, and a renewal keeps the beat', async () => {
    const lock = lockIn();
    await lock.acquire({ by: 'ci', reason: 'push v2', run: 'r-1' });
    expect((await lock.read())?.heartbeat).toBeUndefined(); // taken, not yet beaten
    await lock.beat('r-2');
    expect((await lock.read())?.heartbeat).toBeUndefined();
    await lock.beat('r-1');
    const { details, hostNow } = await lock.inspect();
    expect(details).toMatchObject({ by: 'ci', run: 'r-1' });
    expect(Math.abs(Date.parse(details?.heartbeat ?? '') - hostNow.getTime())).toBeLessThan(2_000);
    await lock.renew('r-1');
    expect((await lock.read())?.heartbeat).toBe(details?.heartbeat);
  });

  it('does not count the heartbeat of a run that no longer holds the lock', async () => {
    const lock = lockIn();
    await lock.acquire({ by: 'ci', reason: 'push', run: 'r-1' });
    await lock.beat('r-1');
    writeFileSync(join(dir, 'heartbeat'), '2026-11-27T12:00:00Z r-0');
    expect((await lock.read())?.heartbeat).toBeUndefined();
  });

  it('a lock released while it is read is free, not unreadable (status during the end of a push)', async () => {
    const lock = lockIn();
    await lock.acquire({ by: 'ada', reason: 'push v2', run: 'r1' });
    // A `cat` that, asked for details.json, lets the release win the race: the folder goes first.
    const shims = mkdtempSync(join(tmpdir(), 'baton-cat-'));
    writeFileSync(
      join(shims, 'cat'),
      `#!/bin/sh\ncase "$1" in *details.json) rm -rf "$(dirname "$1")"; exit 1;; esac\nexec /bin/cat "$@"\n`,
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = `${shims}:${path}`;
    try {
      expect((await lock.inspect()).details).toBeNull();
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses to call a lock it cannot read free', async () => {
    const lock = lockIn();
    mkdirSync(dir, { recursive: true }); // a lock directory without its details
    await expect(lock.read()).rejects.toBeInstanceOf(ExternalCommandError);
    writeFileSync(join(dir, 'details.json'), 'not json');
    await expect(lock.read()).rejects.toThrow(/is not a lock's details/);
  });

  it(
    'keepLeaseAlive beats every heartbeat interval and ' + 'renews the lease every third of it, until stopped',
    async () => {
      vi.useFakeTimers();
      const transports = new RecordingTransports();
      const lock = new ReleaseLock(transports.get('lb'), '/var/lock/baton', 60_000);
      const beats = () => transports.runsOn('lb').filter((a) => a[2]?.includes('heartbeat.next')).length;
      const stop = keepLeaseAlive(lock, 'r-1', 60_000, { heartbeatMs: 3_000 });
      await vi.advanceTimersByTimeAsync(9_500);
      expect(beats()).toBe(3);
      await vi.advanceTimersByTimeAsync(11_000); // 20.5 s: the first renewal (lease/3) read the lock
      expect(transports.runsOn('lb').filter((a) => a[2]?.includes('date -u +%s')).length).toBe(1);
      await stop();
      await vi.advanceTimersByTimeAsync(30_000);
      expect(beats()).toBe(6);
    },
  );

  it(
    'stopping waits for a beat still on its way, ' + 'so the lock is released and the connection closed after it',
    async () => {
      vi.useFakeTimers();
      const transports = new RecordingTransports({
        responses: [{ match: /heartbeat\.next/, answer: () => new Promise((r) => setTimeout(() => r({}), 5_000)) }],
      });
      const stop = keepLeaseAlive(new ReleaseLock(transports.get('lb'), '/l', 600_000), 'r-1', 600_000, {
        heartbeatMs: 3_000,
      });
      await vi.advanceTimersByTimeAsync(3_500); // a beat left at 3 s; it lands at 8 s
      let stopped = false;
      const stopping = stop().then(() => (stopped = true));
      await vi.advanceTimersByTimeAsync(4_000);
      expect(stopped).toBe(false);
      await vi.advanceTimersByTimeAsync(1_000);
      await stopping;
      expect(stopped).toBe(true);
      expect(transports.runsOn('lb')).toHaveLength(1);
    },
  );

  it('skips a beat while the last one is still on its way', async () => {
    vi.useFakeTimers();
    const transports = new RecordingTransports({
      responses: [{ match: /heartbeat\.next/, answer: () => new Promise((r) => setTimeout(() => r({}), 7_000)) }],
    });
    const stop = keepLeaseAlive(new ReleaseLock(transports.get('lb'), '/l', 600_000), 'r-1', 600_000, {
      heartbeatMs: 3_000,
    });
    await vi.advanceTimersByTimeAsync(12_500); // beats at 3 s (answers at 10 s) and 12 s; 6 s and 9 s skipped
    expect(transports.runsOn('lb')).toHaveLength(2);
    void stop();
  });
});

describe('release lock against its own heartbeat', () => {
  // The interleaving that blocked a CI run: a beat still on its way lands while the release
  // empties the lock directory. A stand-in `rm` on PATH makes it land at exactly that moment,
  // between emptying the directory and removing it, as the beat would.
  const withBeatLandingMidRemoval = async <T>(lockDir: string, body: () => Promise<T>): Promise<T> => {
    const bin = mkdtempSync(join(tmpdir(), 'baton-rm-'));
    writeFileSync(
      join(bin, 'rm'),
      `#!/bin/sh
for a; do case "$a" in -*) ;; *) if [ -d "$a" ]; then find "$a" -mindepth 1 -delete; \
printf beat > "${lockDir}/heartbeat.next" 2>/dev/null; rmdir "$a"; fi ;; esac; done
exit 0
`,
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      return await body();
    } finally {
      process.env.PATH = path;
    }
  };

  it('a beat landing while the lock is released writes into nothing: the next run takes the lock', async () => {
    const lock = lockIn();
    await lock.acquire({ by: 'ci', reason: 'push', run: 'r-1' });
    await withBeatLandingMidRemoval(dir, () => lock.release('r-1'));
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(dirname(dir))).toEqual([]); // nothing renamed away is left either
    await expect(lock.acquire({ by: 'ci', reason: 'push', run: 'r-2' })).resolves.toMatchObject({ run: 'r-2' });
  });

  it('a lock whose details cannot be read is named as such, and only a forced release removes it', async () => {
    const lock = lockIn();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'heartbeat'), '2026-11-29T12:00:00Z r-0'); // what the race used to leave
    await expect(lock.acquire({ by: 'ci', reason: 'push', run: 'r-1' })).rejects.toThrow(
      /details cannot be read; if no run is using it, `baton unlock --force --reason TEXT` removes it/,
    );
    await expect(lock.read()).rejects.toBeInstanceOf(UnreadableLockError);
    expect(await lock.release('r-1')).toBe(false);
    expect(await lock.release(undefined, true)).toBe(true);
    expect(await lock.read()).toBeNull();
  });
});
