// Recovery against the real lab, under load: a held push rolled back warm and continued; a push
// SIGKILLed at three step boundaries (every one in the fault suite), then resumed — and, in a
// separate run, rolled back; a run resumed from another machine; rollback --to; status --watch.
// Each ends with the pool serving exactly one release, consistently, and the client sees no
// failed request.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { loadConfig } from '../../src/config/load.js';
import { killedPush } from './helpers/killed-push.js';
import { describeKilledPushes, expectServing, production, recoveryLab } from './helpers/killed-pushes.js';
import { onHost } from './helpers/lab.js';

const lab = recoveryLab('baton-recovery-');
const { baton } = lab;

describe('held pushes', () => {
  it('rolls a held push back warm: all traffic on the old release, both clusters whole', async () => {
    expect((await baton('push', 'v2', '--hold')).exitCode).toBe(0);
    const held = await production();
    expect(held.releases.sort()).toHaveLength(2);
    const r = await baton('rollback', '--yes', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ warm: true, outcome: 'succeeded' });
    expectServing(await production(), 'v1');
  });

  it('continues a held push to the end', async () => {
    expect((await baton('push', 'v2', '--hold')).exitCode).toBe(0);
    const r = await baton('push', '--continue');
    expect(r.exitCode, r.stderr).toBe(0);
    expectServing(await production(), 'v2');
    expect((await baton('push', 'v1')).exitCode).toBe(0);
  });
});

// The whole matrix, every step boundary, is in the fault suite (test/integration/faults-killed.test.ts); here one
// kill after the lock, one with cluster a switched, one mid-way through cluster b.
describeKilledPushes(lab.config, baton, [1, 5, 10]);

describe('a run belongs to production, not to the machine that ran it', () => {
  /** Another machine: a fresh folder with its own baton.yml for the same production, and no .baton at all. */
  async function anotherMachine(): Promise<string> {
    const lock = (await loadConfig(lab.config())).lock.path;
    return writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-elsewhere-')), 'baton.yml'), [
      [['lock', 'path'], lock],
    ]);
  }
  const on = (file: string, ...args: string[]) =>
    execa('node', ['bin/run.js', ...args, '-c', file], {
      reject: false,
      timeout: 90_000,
      env: { CI: '1', BATON_USER: 'elsewhere' },
    });
  const serving = async () => (await production()).answers[0]!;

  it(
    'a push SIGKILLed on one machine is resumed from a clone on another with no local state; ' +
      'both then show the same history and report',
    async () => {
      const from = await serving();
      const next = from === 'v1' ? 'v2' : 'v1';
      const elsewhere = await anotherMachine();
      await killedPush(lab.config(), next, 6);
      expect(existsSync(join(dirname(elsewhere), '.baton')), 'the other machine starts with nothing').toBe(false);
      const status = await on(elsewhere, 'status', '--json');
      const seen = JSON.parse(status.stdout) as {
        lastRun: { run: string; tag: string; outcome: string; running: boolean | null };
      };
      expect(seen.lastRun).toMatchObject({ tag: next, outcome: 'unfinished' });

      const resumed = await on(elsewhere, 'resume');
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`resuming run ${seen.lastRun.run}`);
      expectServing(await production(), next);

      type Listed = { run: string; tag: string; outcome: string; by?: string };
      const listed = async (file: string) =>
        (JSON.parse((await on(file, 'history', '--json')).stdout) as Listed[]).map(({ run, tag, outcome }) => ({
          run,
          tag,
          outcome,
        }));
      const there = await listed(elsewhere);
      expect(there[0]).toEqual({ run: seen.lastRun.run, tag: next, outcome: 'succeeded' });
      expect(await listed(lab.config())).toEqual(there);
      const report = await on(
        lab.config(),
        'report',
        seen.lastRun.run,
        '-o',
        join(dirname(lab.config()), 'killed.html'),
      );
      expect(report.exitCode, report.stderr).toBe(0);
      expect(readFileSync(join(dirname(lab.config()), 'killed.html'), 'utf8')).toContain(seen.lastRun.run);
    },
  );

  it('a machine reading while another pushes sees the run as it goes, and every line of it at the end', async () => {
    const next = (await serving()) === 'v1' ? 'v2' : 'v1';
    const elsewhere = await anotherMachine();
    const push = baton('push', next);
    let pushing = true;
    void push.finally(() => (pushing = false));
    const views: string[] = [];
    while (pushing && views.length < 40) {
      const s = await on(elsewhere, 'status', '--json');
      // Mid-push a part may be unreadable for a moment (a host restarting): 1, with the rest shown.
      expect([0, 1], `${s.stderr}\n${s.stdout.slice(0, 2000)}`).toContain(s.exitCode);
      const last = (JSON.parse(s.stdout) as { lastRun?: { tag: string; outcome: string } }).lastRun;
      if (last?.tag === next) views.push(last.outcome);
    }
    expect((await push).exitCode).toBe(0);
    expect(views, 'the run was seen while it ran').toContain('unfinished');
    const s = JSON.parse((await on(elsewhere, 'status', '--json')).stdout) as {
      lastRun: { run: string; outcome: string };
    };
    expect(s.lastRun.outcome).toBe('succeeded');
    const journal = (dir: string) => readFileSync(join(dir, '.baton', 'journal', `${s.lastRun.run}.jsonl`), 'utf8');
    expect(journal(dirname(elsewhere))).toBe(journal(dirname(lab.config())));
    expectServing(await production(), next);
  });
});

describe('rollback --to TAG', () => {
  it(
    'returns to a release the hosts keep, refuses one marked bad unless forced with a reason, ' +
      'and one they do not keep',
    async () => {
      // The rollbacks above marked releases bad in this config's list: start from none.
      await onHost('lb.baton.test', `rm -f ${dirname((await loadConfig(lab.config())).lock.path)}/shop.bad-releases`);
      const now = (await production()).answers[0]!;
      const other = now === 'v1' ? 'v2' : 'v1';
      // Both releases on every host; `now` serves.
      expect((await baton('push', other)).exitCode).toBe(0);
      expect((await baton('push', now)).exitCode).toBe(0);

      const back = await baton('rollback', '--to', other, '--yes', '--json');
      expect(back.exitCode, back.stderr).toBe(0);
      expect(JSON.parse(back.stdout)).toMatchObject({ outcome: 'succeeded', source: `release ${other} (--to)` });
      expectServing(await production(), other);

      // The release it left is marked bad: going there again needs --force and a reason, journaled.
      const refused = await baton('rollback', '--to', now, '--yes');
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toMatch(new RegExp(`rolling back would land on releases marked bad: .*${now}-`));
      expect(refused.stderr).toMatch(/--force REASON/);
      expectServing(await production(), other);
      const forced = await baton(
        'rollback',
        '--to',
        now,
        '--force',
        'the bad mark was a flaky smoke check',
        '--yes',
        '--json',
      );
      expect(forced.exitCode, forced.stderr).toBe(0);
      expect(readFileSync(JSON.parse(forced.stdout).journal as string, 'utf8')).toMatch(
        /rollback lands on releases marked bad \(.*\), forced by recovery-test: the bad mark was a flaky smoke check/,
      );
      expectServing(await production(), now);

      const unknown = await baton('rollback', '--to', 'v9', '--yes');
      expect(unknown.exitCode).toBe(3);
      expect(unknown.stderr).toMatch(/no release of v9 to roll back to on web-1\.prod-a\.baton\.test \(it keeps .*\)/);
      expect((await baton('rollback', '--force', 'no tag', '--yes')).exitCode).toBe(64);
    },
  );
});

describe('status --watch', () => {
  it("shows a push as it goes from another terminal, and ends on Ctrl-C with the last reading's code", async () => {
    const next = (await production()).answers[0] === 'v1' ? 'v2' : 'v1';
    const watch = execa('node', ['bin/run.js', 'status', '--watch', '--every', '0.3s', '-c', lab.config()], {
      reject: false,
      env: { CI: '1' },
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await baton('push', next)).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 800));
    watch.kill('SIGINT');
    const r = await watch;
    expect(r.exitCode, r.stderr).toBe(0);
    const frames = r.stdout.split(/^--- /m).filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(4);
    expect(
      frames.some((f) => f.includes(next) && /unfinished|running|pending/i.test(f)),
      'a frame while the push ran',
    ).toBe(true);
    expect(frames.at(-1)).toMatch(new RegExp(`${next}.*succeeded|succeeded.*${next}`, 's'));
    expectServing(await production(), next);
  });
});
