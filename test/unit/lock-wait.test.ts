// `--lock-wait`: wait while another release holds the lock, give up (exit 4) when the wait runs out.
import { describe, expect, it } from 'vitest';
import type { LockDetails, LockReading } from '../../src/engine/lock.js';
import { ExitCode, LockHeldError } from '../../src/errors.js';
import { waitForLock } from '../../src/release/lock-wait.js';

const held = (expires = '2026-11-29T13:00:00Z'): LockDetails => ({
  by: 'alice@ci',
  reason: 'push v9',
  tag: 'v9',
  run: 'r-1',
  since: '2026-11-29T12:00:00Z',
  expires,
});
const at = (iso: string) => new Date(iso);

/** A lock that answers the readings in turn, on a clock that moves only when we sleep. */
function script(readings: Array<LockDetails | null>) {
  let clock = 0;
  let i = 0;
  const slept: number[] = [];
  return {
    lock: {
      inspect: async (): Promise<LockReading> => ({
        details: readings[Math.min(i++, readings.length - 1)] ?? null,
        hostNow: at('2026-11-29T12:30:00Z'),
      }),
    },
    now: () => clock,
    sleep: async (ms: number) => {
      slept.push(ms);
      clock += ms;
    },
    slept,
    reads: () => i,
  };
}

describe('waiting for the release lock', () => {
  it('returns at once when nobody holds the lock, without a word', async () => {
    const s = script([null]);
    const told: LockDetails[] = [];
    await waitForLock(s.lock, {
      waitMs: 60_000,
      host: 'lb',
      now: s.now,
      sleep: s.sleep,
      onWaiting: (h) => told.push(h),
    });
    expect(s.slept).toEqual([]);
    expect(told).toEqual([]);
  });

  it('waits while it is held, says so once, and goes on once it is released', async () => {
    const s = script([held(), held(), held(), null]);
    const told: LockDetails[] = [];
    await waitForLock(s.lock, {
      waitMs: 60_000,
      pollMs: 2_000,
      host: 'lb',
      now: s.now,
      sleep: s.sleep,
      onWaiting: (h) => told.push(h),
    });
    expect(s.slept).toEqual([2_000, 2_000, 2_000]);
    expect(told.map((h) => h.by)).toEqual(['alice@ci']);
  });

  it("takes a lock whose lease ran out (on the lock host's clock) as free", async () => {
    const s = script([held('2026-11-29T12:29:59Z')]);
    await waitForLock(s.lock, { waitMs: 60_000, host: 'lb', now: s.now, sleep: s.sleep });
    expect(s.reads()).toBe(1);
  });

  it(
    'takes a lock held by the run being taken over (resume, ' + "rollback) as free: that lock is this run's to take",
    async () => {
      const s = script([held()]);
      const told: LockDetails[] = [];
      await waitForLock(s.lock, {
        waitMs: 60_000,
        host: 'lb',
        now: s.now,
        sleep: s.sleep,
        takeOver: 'r-1',
        onWaiting: (h) => told.push(h),
      });
      expect(s.reads()).toBe(1);
      expect(s.slept).toEqual([]);
      expect(told).toEqual([]);
    },
  );

  it('gives up with exit 4 once the wait runs out, naming the holder and how long it waited', async () => {
    const s = script([held()]);
    const err = await waitForLock(s.lock, {
      waitMs: 5_000,
      pollMs: 2_000,
      host: 'lb.example',
      now: s.now,
      sleep: s.sleep,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).exitCode).toBe(ExitCode.LOCK_HELD);
    expect((err as Error).message).toMatch(
      /release lock on lb\.example is still held by alice@ci since .* \(pushing v9\) after waiting 5s: push v9/,
    );
    expect(s.slept).toEqual([2_000, 2_000, 1_000]); // never sleeps past the deadline
  });
});
