// `unlock --force` takes someone else's lock: only with a reason, and only once a person said yes
// (on a terminal) or --yes said it for them. The flag rules, and the reason in what unlock reports;
// the lock itself is a fake here (the SSH part is the lab's).
import { describe, expect, it } from 'vitest';
import { forceUnlockRules } from '../../src/cli/force-unlock-flags.js';
import type { LockDetails } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { ExitCode, UserError } from '../../src/errors.js';
import { releaseLock } from '../../src/release/lock-commands.js';

const usageError = (f: () => unknown): UserError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(ExitCode.USAGE);
    return err as UserError;
  }
  throw new Error('expected a usage error');
};

describe('the flags of unlock --force', () => {
  it('--force without --reason is a usage error (exit 64) that says why a reason is needed', () => {
    for (const reason of [undefined, '', '   ']) {
      const err = usageError(() => forceUnlockRules({ force: true, ...(reason !== undefined ? { reason } : {}), yes: true }, true));
      expect(err.message).toBe('unlock --force needs --reason TEXT: taking someone else\'s release lock is reported with who took it and why');
      expect(err.hint).toMatch(/^e\.g\. baton unlock --force --reason "/);
    }
  });

  it('without a terminal and without --yes, refuses: there is nobody to ask', () => {
    const err = usageError(() => forceUnlockRules({ force: true, reason: 'CI job 812 was cancelled' }, false));
    expect(err.message).toBe('unlock --force takes someone else\'s release lock, and there is no terminal to ask for confirmation');
    expect(err.hint).toBe('pass --yes to take it without asking (CI)');
  });

  it('asks on a terminal, unless --yes', () => {
    expect(forceUnlockRules({ force: true, reason: 'job gone' }, true)).toEqual({ ask: true, reason: 'job gone' });
    expect(forceUnlockRules({ force: true, reason: 'job gone', yes: true }, true)).toEqual({ ask: false, reason: 'job gone' });
    expect(forceUnlockRules({ force: true, reason: 'job gone', yes: true }, false)).toEqual({ ask: false, reason: 'job gone' });
  });

  it('without --force needs nothing, and --reason or --yes without it is a usage error, not silently ignored', () => {
    expect(forceUnlockRules({}, false)).toEqual({ ask: false });
    expect(usageError(() => forceUnlockRules({ reason: 'done' }, true)).message).toBe('--reason goes with --force: your own lock, or one whose lease ran out, is released without one');
    expect(usageError(() => forceUnlockRules({ yes: true }, false)).message).toBe('--yes goes with --force: only taking someone else\'s lock asks for confirmation');
  });
});

describe('releaseLock with a reason and a confirmation', () => {
  const NOW = new Date('2026-11-27T12:00:00Z');
  const alice: LockDetails = { by: 'alice@ci', reason: 'push v9', tag: 'v9', run: 'r-1', since: '2026-11-27T11:00:00Z', expires: '2026-11-27T13:00:00Z' };
  const fake = (holder: LockDetails | null) => {
    const state = { holder, released: 0 };
    const session = {
      config: { balancer: { host: 'lb.test' }, lock: { path: '/var/lib/baton/lock' } },
      lock: { read: async () => state.holder, release: async () => ((state.released += 1), (state.holder = null), true) },
    } as unknown as Session;
    return { session, state };
  };

  it('reports the reason with whose lock it took', async () => {
    const { session, state } = fake(alice);
    const r = await releaseLock(session, { by: 'ada', force: true, reason: 'CI job 812 was cancelled', now: NOW });
    expect(r).toEqual({ released: true, holder: alice, expired: false, forced: true, reason: 'CI job 812 was cancelled' });
    expect(state.released).toBe(1);
  });

  it('asks before taking someone else\'s live lock, naming it, and leaves it when the answer is no', async () => {
    const { session, state } = fake(alice);
    const asked: (LockDetails | null)[] = [];
    const r = await releaseLock(session, { by: 'ada', force: true, reason: 'gone', now: NOW, confirm: async (h) => (asked.push(h), false) });
    expect(asked).toEqual([alice]);
    expect(r).toEqual({ released: false, holder: alice, expired: false, forced: false, cancelled: true });
    expect(state.released).toBe(0);
  });

  it('does not ask for your own lock or an expired one: nothing is forced', async () => {
    const asked: unknown[] = [];
    const confirm = async (h: LockDetails | null) => (asked.push(h), false);
    expect(await releaseLock(fake({ ...alice, by: 'ada' }).session, { by: 'ada', force: true, reason: 'x', now: NOW, confirm })).toMatchObject({ released: true, forced: false });
    expect(await releaseLock(fake({ ...alice, expires: '2026-11-27T11:59:59Z' }).session, { by: 'ada', force: true, reason: 'x', now: NOW, confirm })).toMatchObject({ released: true, expired: true, forced: false });
    expect(asked).toEqual([]);
  });
});
