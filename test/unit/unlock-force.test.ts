// `unlock --force` takes someone else's lock: only with a reason, and only once a person said yes
// (on a terminal) or --yes said it for them. The flag rules, and the reason in what unlock reports;
// the lock itself is a fake here (the SSH part is the lab's).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forceUnlockRules } from '../../src/cli/force-unlock-flags.js';
import type { LockDetails } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { ExitCode, UserError } from '../../src/errors.js';
import { releaseLock } from '../../src/release/lock-commands.js';
import { RecordingTransports } from '../../src/transport/recording.js';
import { recordHost } from '../helpers/record-host.js';

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
      const err = usageError(() =>
        forceUnlockRules({ force: true, ...(reason !== undefined ? { reason } : {}), yes: true }, true),
      );
      expect(err.message).toBe(
        "unlock --force needs --reason TEXT: taking someone else's release lock is reported with who took it and why",
      );
      expect(err.hint).toMatch(/^e\.g\. baton unlock --force --reason "/);
    }
  });

  it('without a terminal and without --yes, refuses: there is nobody to ask', () => {
    const err = usageError(() => forceUnlockRules({ force: true, reason: 'CI job 812 was cancelled' }, false));
    expect(err.message).toBe(
      "unlock --force takes someone else's release lock, and there is no terminal to ask for confirmation",
    );
    expect(err.hint).toBe('pass --yes to take it without asking (CI)');
  });

  it('asks on a terminal, unless --yes', () => {
    expect(forceUnlockRules({ force: true, reason: 'job gone' }, true)).toEqual({ ask: true, reason: 'job gone' });
    expect(forceUnlockRules({ force: true, reason: 'job gone', yes: true }, true)).toEqual({
      ask: false,
      reason: 'job gone',
    });
    expect(forceUnlockRules({ force: true, reason: 'job gone', yes: true }, false)).toEqual({
      ask: false,
      reason: 'job gone',
    });
  });

  it('without --force needs nothing, and --reason or --yes without it is a usage error, not silently ignored', () => {
    expect(forceUnlockRules({}, false)).toEqual({ ask: false });
    expect(usageError(() => forceUnlockRules({ reason: 'done' }, true)).message).toBe(
      '--reason goes with --force: your own lock, or one whose lease ran out, is released without one',
    );
    expect(usageError(() => forceUnlockRules({ yes: true }, false)).message).toBe(
      "--yes goes with --force: only taking someone else's lock asks for confirmation",
    );
  });
});

describe('releaseLock with a reason and a confirmation', () => {
  const NOW = new Date('2026-11-27T12:00:00Z');
  const RUN = '20261127T110000.000Z-alice1';
  const alice: LockDetails = {
    by: 'alice@ci',
    reason: 'push v9',
    tag: 'v9',
    run: RUN,
    since: '2026-11-27T11:00:00Z',
    expires: '2026-11-27T13:00:00Z',
  };
  const RECORD = '/var/lib/baton/shop.runs';
  const fake = (holder: LockDetails | null) => {
    const state = { holder, released: 0 };
    // The killed push's journal is in the record on the balancer host, not on this machine.
    const record = recordHost();
    record.files.set(
      `${RECORD}/${RUN}.jsonl`,
      Buffer.from(
        `${JSON.stringify({
          ts: '2026-11-27T11:00:00.000Z',
          run: RUN,
          event: 'run-begin',
          command: 'push',
          plan: 'sha256:p',
          tag: 'v9',
          by: 'alice@ci',
          steps: ['lock'],
        })}\n`,
      ),
    );
    const session = {
      config: {
        dir: mkdtempSync(join(tmpdir(), 'baton-unlock-')),
        app: { name: 'shop' },
        balancer: { host: 'lb.test' },
        lock: { path: '/var/lib/baton/lock' },
        record: { keep: 200 },
        ssh: { connectTimeout: 10_000 },
      },
      transports: new RecordingTransports({ responses: [record] }),
      lock: {
        read: async () => state.holder,
        release: async () => ((state.released += 1), (state.holder = null), true),
      },
    } as unknown as Session;
    return { session, state, record };
  };

  it("reports the reason with whose lock it took, and says so in that run's record", async () => {
    const { session, state, record } = fake(alice);
    const r = await releaseLock(session, { by: 'ada', force: true, reason: 'CI job 812 was cancelled', now: NOW });
    expect(r).toEqual({
      released: true,
      holder: alice,
      expired: false,
      forced: true,
      reason: 'CI job 812 was cancelled',
    });
    expect(state.released).toBe(1);
    const lines = record.files
      .get(`${RECORD}/${RUN}.jsonl`)!
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; message?: string });
    expect(lines.map((l) => l.event)).toEqual(['run-begin', 'note']);
    expect(lines[1]!.message).toBe('its release lock was taken by ada (unlock --force): CI job 812 was cancelled');
  });

  it("asks before taking someone else's live lock, naming it, and leaves it when the answer is no", async () => {
    const { session, state } = fake(alice);
    const asked: (LockDetails | null)[] = [];
    const r = await releaseLock(session, {
      by: 'ada',
      force: true,
      reason: 'gone',
      now: NOW,
      confirm: async (h) => (asked.push(h), false),
    });
    expect(asked).toEqual([alice]);
    expect(r).toEqual({ released: false, holder: alice, expired: false, forced: false, cancelled: true });
    expect(state.released).toBe(0);
  });

  it('does not ask for your own lock or an expired one: nothing is forced', async () => {
    const asked: unknown[] = [];
    const confirm = async (h: LockDetails | null) => (asked.push(h), false);
    expect(
      await releaseLock(fake({ ...alice, by: 'ada' }).session, {
        by: 'ada',
        force: true,
        reason: 'x',
        now: NOW,
        confirm,
      }),
    ).toMatchObject({ released: true, forced: false });
    expect(
      await releaseLock(fake({ ...alice, expires: '2026-11-27T11:59:59Z' }).session, {
        by: 'ada',
        force: true,
        reason: 'x',
        now: NOW,
        confirm,
      }),
    ).toMatchObject({ released: true, expired: true, forced: false });
    expect(asked).toEqual([]);
  });
});
