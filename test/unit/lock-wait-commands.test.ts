// `--lock-wait` on rollback and resume (as on push, apply and rehearse), and on push --continue: the
// flag is parsed, and the wait reaches the lock before production is looked at, never waiting for
// the lock of the run the command continues or undoes. The commands run in-process on a fake
// session whose lock another release holds; the lock-wait logic itself is lock-wait.test.ts's.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LockDetails, LockReading } from '../../src/engine/lock.js';
import { UserError } from '../../src/errors.js';

const ROOT = join(import.meta.dirname, '../..');
const NOW = new Date('2026-11-29T12:30:00Z');

/** Who holds the lock, what the session was asked; reset before each test. */
const world = vi.hoisted(() => ({
  dir: '',
  holder: null as LockDetails | null,
  inspected: 0,
  observed: 0,
  reached: [] as string[],
  takeOver: undefined as string | undefined,
}));

vi.mock('../../src/config/load.js', () => ({
  loadConfig: async () => ({
    dir: world.dir,
    balancer: { host: 'lb.test' },
    lock: { path: '/var/lib/baton/lock', lease: 600_000 },
  }),
}));
vi.mock('../../src/engine/session.js', () => ({
  openSession: async () => ({
    config: {
      dir: world.dir,
      app: { name: 'shop' },
      balancer: { host: 'lb.test' },
      lock: { path: '/var/lib/baton/lock', lease: 600_000 },
    },
    // The releases marked bad, which rollback reads while it reads the run record: none.
    transports: { get: () => ({ run: async () => ({ code: 0, stdout: '', stderr: '' }) }) },
    lock: {
      inspect: async (): Promise<LockReading> => {
        world.inspected += 1;
        return { details: world.holder, hostNow: NOW };
      },
    },
    balancer: { members: async () => ((world.observed += 1), []) },
    close: async () => undefined,
  }),
}));
// The run record is read before anything else (run-record.test.ts and the lab test it): here, level already.
vi.mock('../../src/engine/run-record.js', () => ({ readRunRecord: async () => [] }));
// Past the wait, each command stops at its first step into production, saying it got there.
vi.mock('../../src/release/rollback.js', async (original) => ({
  ...(await original<typeof import('../../src/release/rollback.js')>()),
  rollbackTakesOverLockOf: () => world.takeOver,
  proposeRollback: async () => {
    world.reached.push('proposeRollback');
    throw new UserError('stopped here by the test');
  },
}));
vi.mock('../../src/release/resume.js', () => ({
  findResumable: () => ({ run: 'r-killed', state: { by: 'bob' }, plan: { release: { tag: 'v3' } } }),
  remainingSteps: () => ({ remaining: [{ id: 'smoke-b' }], reversal: false }),
  resumeRun: async () => {
    world.reached.push('resumeRun');
    throw new UserError('stopped here by the test');
  },
}));

world.dir = mkdtempSync(join(tmpdir(), 'baton-lock-wait-'));

const alice = (run = 'r-alice'): LockDetails => ({
  by: 'alice@ci',
  reason: 'push v9',
  tag: 'v9',
  run,
  since: '2026-11-29T12:00:00Z',
  expires: '2026-11-29T13:00:00Z',
});

/** Runs the command in this process; its exit code (oclif's ExitError) and what it wrote on stderr. */
const COMMANDS = {
  rollback: () => import('../../commands/rollback.js'),
  resume: () => import('../../commands/resume.js'),
  'push --continue': () => import('../../commands/push.js'),
};
type Name = keyof typeof COMMANDS;

async function run(command: Name, argv: string[]): Promise<{ exitCode: number | undefined; stderr: string }> {
  const { default: Command } = await COMMANDS[command]();
  let stderr = '';
  // oclif writes through console.error, baton's own notices straight to process.stderr.
  const write = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  const error = vi
    .spyOn(console, 'error')
    .mockImplementation((...args: unknown[]) => void (stderr += `${args.join(' ')}\n`));
  try {
    await Command.run([...argv, '-c', join(world.dir, 'baton.yml')], { root: ROOT });
    return { exitCode: 0, stderr };
  } catch (err) {
    return { exitCode: (err as { oclif?: { exit?: number } }).oclif?.exit, stderr };
  } finally {
    write.mockRestore();
    error.mockRestore();
    process.exitCode = undefined;
  }
}

beforeEach(() => {
  Object.assign(world, { holder: null, inspected: 0, observed: 0, reached: [], takeOver: undefined });
});
afterEach(() => {
  process.exitCode = undefined;
});

describe.each(Object.keys(COMMANDS) as Name[])('%s --lock-wait', { timeout: 20_000 }, (command) => {
  const args = { rollback: ['--yes'], resume: [], 'push --continue': ['--continue'] }[command];

  it(
    "waits for another release's lock up to that long, " + 'then gives up with exit 4 before looking at production',
    async () => {
      world.holder = alice();
      const r = await run(command, [...args, '--lock-wait', '1s']);
      expect(r.stderr).toMatch(
        /waiting up to 1s for the release lock on lb\.test, held by alice@ci since .* \(pushing v9\): push v9/,
      );
      expect(r.stderr).toMatch(
        /Error: release lock on lb\.test is still held by alice@ci since .* after waiting 1s: push v9/,
      );
      expect(r.exitCode).toBe(4);
      expect(world.inspected).toBeGreaterThanOrEqual(2);
      expect(world.reached).toEqual([]);
      expect(world.observed).toBe(0);
    },
  );

  it('goes on at once when nobody holds the lock', async () => {
    const r = await run(command, [...args, '--lock-wait', '10m']);
    expect(r.stderr).toContain('stopped here by the test');
    expect(world.inspected).toBe(1);
    expect(world.reached).toEqual([command === 'rollback' ? 'proposeRollback' : 'resumeRun']);
  });

  it('does not wait for the lock of the run it takes over (a killed or held push holds it)', async () => {
    world.holder = alice('r-killed');
    world.takeOver = 'r-killed';
    const r = await run(command, [...args, '--lock-wait', '10m']);
    expect(r.stderr).not.toMatch(/waiting up to/);
    expect(world.reached).toHaveLength(1);
  });

  it('without the flag does not look at the lock before the run', async () => {
    world.holder = alice();
    await run(command, args);
    expect(world.inspected).toBe(0);
    expect(world.reached).toHaveLength(1);
  });

  it('a bad --lock-wait is a usage error (exit 64) naming the flag', async () => {
    const r = await run(command, [...args, '--lock-wait', 'soon']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/--lock-wait soon: expected a duration such as 500ms, 60s or 2m/);
    expect(world.inspected).toBe(0);
  });
});
