// The review surface against the real lab: apply refuses an edited plan and a stale one (and
// prints the drift), a plan baton.yml requires to be rehearsed and approved is refused until it
// is, rehearsal leaves production where it was, status shows a held lock, history lists pushes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { type Plan, planHash } from '../../src/model/plan.js';
import { makeSigningKeys, type SigningKeys } from '../fixtures/signing-keys.js';
import { currentReleases, onHost } from './helpers/lab.js';

const USER = 'review-test';
let dir: string;
let config: string;
let startTag: string | undefined;
let keys: SigningKeys;
/** Requires a signed rehearsal and one signed approval (signed approvals: signed-approvals.test.ts). */
const strictRequire = () => ({
  rehearsal: true,
  approvals: 1,
  allowedSigners: keys.allowedSigners,
  authorApprovalCounts: true,
});

function baton(args: string[], env: Record<string, string> = {}) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: USER, ...env } });
}

async function poolStates(): Promise<string> {
  return onHost('lb.baton.test', 'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock | cut -d, -f2,18');
}

async function setServerState(server: string, state: 'ready' | 'drain'): Promise<void> {
  await onHost('lb.baton.test', `echo "set server web/${server} state ${state}" | socat stdio /run/haproxy/admin.sock`);
}

async function makePlan(file: string, tag = 'v2', cfg = config): Promise<Plan> {
  const r = await baton(['plan', tag, '-c', cfg, '-o', file]);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(readFileSync(file, 'utf8')) as Plan;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-review-'));
  keys = makeSigningKeys(['reviewer']);
  config = writeLabConfig(join(dir, 'baton.yml'));
  // Put the lab back on the tag it ran when we found it.
  const found = new Set(Object.values(await currentReleases()).map((d) => d.replace(/-[0-9a-f]{7}$/, '')));
  startTag = found.size === 1 ? [...found][0] : undefined;
  // Forced: history below lists this run, and a lab already on v1 would make it "No changes" (no run).
  const r = await baton(['push', 'v1', '--force', 'review test: a run to list', '-c', config]);
  expect(r.exitCode, r.stderr).toBe(0);
});

afterAll(async () => {
  await baton(['unlock', '--force', '--reason', 'test clean-up', '--yes', '-c', config]);
  if (startTag && ['v1', 'v2', 'v4-slow'].includes(startTag)) await baton(['push', startTag, '-c', config]);
});

describe('apply refuses what it must not run', () => {
  it('refuses an edited plan with exit 3, changing nothing', async () => {
    const file = join(dir, 'edited.json');
    const plan = await makePlan(file);
    plan.forward[1]!.title = 'drain nothing, trust me';
    writeFileSync(file, JSON.stringify(plan, null, 2));
    const before = { releases: await currentReleases(), pool: await poolStates() };
    const r = await baton(['apply', file, '-c', config]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/altered after it was made/);
    expect({ releases: await currentReleases(), pool: await poolStates() }).toEqual(before);
  });

  it(
    'refuses a forged plan (a host not in baton.yml, `..` releases, hash recomputed, made-up approvals) ' +
      'with exit 3, touching no host',
    async () => {
      const file = join(dir, 'forged.json');
      const plan = await makePlan(file);
      plan.observed.hosts.push({ ...plan.observed.hosts[0]!, host: 'attacker.example.net', member: 'web9a' });
      for (const s of plan.forward) {
        if (s.kind === 'stage') s.hosts = [...(s.hosts ?? []), 'attacker.example.net'];
        for (const u of s.undo) if (u.releases) for (const h of Object.keys(u.releases)) u.releases[h] = '../../../etc';
      }
      const { hash: _, approvals: __, ...rest } = plan;
      const forged = {
        ...rest,
        hash: planHash(rest),
        approvals: ['Alice', 'Bob'].map((by) => ({ by, at: new Date().toISOString(), hash: planHash(rest) })),
      };
      writeFileSync(file, JSON.stringify(forged, null, 2));
      const before = { releases: await currentReleases(), pool: await poolStates() };
      const shown = await baton(['plan', '--from', file, '-c', config]);
      expect(shown.exitCode, shown.stderr).toBe(3);
      const r = await baton(['apply', file, '-c', config]);
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/not a release directory name/);
      // The `..` undo fixed, the extra host alone is what gives the forgery away.
      for (const s of forged.forward)
        for (const u of s.undo)
          if (u.releases)
            for (const h of Object.keys(u.releases))
              u.releases[h] = plan.observed.hosts.find((o) => o.host === h)?.release ?? 'v1';
      const again = { ...forged, hash: planHash({ ...forged, hash: undefined } as unknown as Omit<Plan, 'hash'>) };
      writeFileSync(file, JSON.stringify(again, null, 2));
      const r2 = await baton(['apply', file, '-c', config]);
      expect(r2.exitCode, r2.stderr).toBe(3);
      expect(r2.stderr).toMatch(/host "attacker\.example\.net" is not in baton\.yml/);
      expect({ releases: await currentReleases(), pool: await poolStates() }).toEqual(before);
    },
  );

  it('refuses a stale plan with exit 3 and prints the drift member by member and host by host', async () => {
    const file = join(dir, 'stale.json');
    const plan = await makePlan(file);
    const host = 'web-1.prod-a.baton.test';
    const was = plan.observed.hosts.find((h) => h.host === host)?.release as string;
    try {
      await setServerState('web2b', 'drain');
      await onHost(host, 'mkdir -p /srv/shop/releases/drift-test && ln -sfn releases/drift-test /srv/shop/current');
      const r = await baton(['apply', file, '-c', config]);
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/production changed since the plan was made/);
      expect(r.stderr).toContain('web2b: was ready in the pool, is now drain');
      expect(r.stderr).toContain(`${host}: ran ${was}, runs drift-test now`);
    } finally {
      await onHost(host, `ln -sfn releases/${was} /srv/shop/current && rm -rf /srv/shop/releases/drift-test`);
      await setServerState('web2b', 'ready');
    }
    expect(Object.values(await currentReleases()).every((d) => d.startsWith('v1-'))).toBe(true);
  });
});

describe('a plan that baton.yml requires to be rehearsed and approved', () => {
  it('is refused until rehearsed and approved, then applies', async () => {
    const strict = writeLabConfig(join(dir, 'strict.yml'), [[['require'], strictRequire()]]);
    const file = join(dir, 'reviewed.json');
    await makePlan(file, 'v2', strict);

    const refused = await baton(['apply', file, '-c', strict]);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(/requires a passed rehearsal/);
    expect(refused.stderr).toMatch(/requires 1 approval of this plan, it has 0/);

    const before = { releases: await currentReleases(), pool: await poolStates() };
    const rehearsed = await baton(['rehearse', file, '-c', strict, '--key', keys.key.reviewer!, '--json']);
    expect(rehearsed.exitCode, rehearsed.stderr + rehearsed.stdout).toBe(0);
    expect(JSON.parse(rehearsed.stdout)).toMatchObject({ rehearsal: { outcome: 'passed', by: USER } });
    // The rehearsal switched cluster a and back, out of the pool: production is where it was.
    expect({ releases: await currentReleases(), pool: await poolStates() }).toEqual(before);
    const steps = readJournal(JSON.parse(rehearsed.stdout).journal as string).flatMap((e) =>
      e.event === 'step-ok' ? [e.step] : [],
    );
    expect(steps).toEqual([
      'lock',
      'drain-a',
      'stage',
      'wait-drain-a',
      'activate-a',
      'smoke-a',
      'undo-activate-a',
      'undo-stage',
      'undo-drain-a',
      'undo-lock',
    ]);

    const stillRefused = await baton(['apply', file, '-c', strict]);
    expect(stillRefused.exitCode).toBe(3);
    expect(stillRefused.stderr).not.toMatch(/rehearsal/);

    const approved = await baton([
      'approve',
      file,
      '--key',
      keys.key.reviewer!,
      '--as',
      'Reviewer <reviewer@example.com>',
    ]);
    expect(approved.exitCode, approved.stderr).toBe(0);
    const md = await baton(['plan', '--from', file, '--format', 'markdown', '-c', strict]);
    expect(md.stdout).toMatch(/\*\*passed\*\* .* against cluster a of production/);
    expect(md.stdout).toContain('- Reviewer <reviewer@example.com> at');

    const applied = await baton(['apply', file, '-c', strict, '--json']);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ outcome: 'succeeded', tag: 'v2' });
    expect(Object.values(await currentReleases()).every((d) => d.startsWith('v2-'))).toBe(true);
  });

  it('applies with an override, journaling who and why', async () => {
    const strict = writeLabConfig(join(dir, 'strict.yml'), [[['require'], strictRequire()]]);
    const file = join(dir, 'override.json');
    await makePlan(file, 'v1', strict);
    const r = await baton([
      'apply',
      file,
      '-c',
      strict,
      '--override-requirements',
      'review test: back to v1',
      '--json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const events = readJournal(JSON.parse(r.stdout).journal as string);
    expect(events[1]).toMatchObject({
      event: 'note',
      message: expect.stringMatching(new RegExp(`^requirements overridden by ${USER}: review test: back to v1`)),
    });
  });
});

describe('status, lock and history', () => {
  it("shows the lock while it is held; unlock refuses someone else's lock without --force", async () => {
    const lock = await baton(['lock', '--reason', 'review test freeze', '--lease', '5m', '-c', config]);
    expect(lock.exitCode, lock.stderr).toBe(0);
    try {
      const status = await baton(['status', '-c', config, '--json']);
      expect(status.exitCode, status.stderr).toBe(0);
      const s = JSON.parse(status.stdout);
      expect(s.lock).toMatchObject({ by: USER, reason: 'review test freeze', expired: false });
      expect(s.clusters.map((c: { serving: string }) => c.serving)).toEqual(['all', 'all']);
      expect(s.hosts.every((h: { release: string }) => h.release.startsWith('v1-'))).toBe(true);
      expect((await baton(['status', '-c', config])).stdout).toMatch(
        /lock: held by review-test .*: review test freeze; expires/,
      );

      const push = await baton(['push', 'v2', '-c', config]);
      expect(push.exitCode).toBe(4);
      expect(push.stderr).toMatch(/held by review-test/);

      const other = await baton(['unlock', '-c', config], { BATON_USER: 'someone-else' });
      expect(other.exitCode).toBe(4);
      expect(other.stderr).toMatch(/held by review-test .*review test freeze/);
      expect(other.stderr).toMatch(/--force/);
    } finally {
      const unlock = await baton(['unlock', '-c', config]);
      expect(unlock.exitCode, unlock.stderr).toBe(0);
    }
    expect(JSON.parse((await baton(['status', '-c', config, '--json'])).stdout).lock).toEqual({ state: 'free' });
  });

  it('lists the pushes newest first, with tag, who, outcome and duration', async () => {
    const r = await baton(['history', '-c', config, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const runs = JSON.parse(r.stdout) as {
      command: string;
      tag: string;
      by: string;
      outcome: string;
      durationMs: number;
    }[];
    expect(runs.slice(0, 4).map((x) => [x.command, x.tag, x.outcome])).toEqual([
      ['push', 'v2', 'reversed'], // refused by the held lock: nothing ran
      ['apply', 'v1', 'succeeded'],
      ['apply', 'v2', 'succeeded'],
      ['push', 'v1', 'succeeded'],
    ]);
    expect(runs.every((x) => x.by === USER && x.durationMs > 0)).toBe(true);
    expect(runs.some((x) => x.command === 'rehearse')).toBe(false);
    const limited = await baton(['history', '-c', config, '--limit', '1']);
    expect(limited.stdout.split('\n')).toHaveLength(2);
    expect(limited.stdout).toMatch(/push +v2 +reversed/);
  });

  it(
    'push --lock-wait queues behind a held lock: gives up (exit 4) when the wait is too short, ' +
      'goes on once the lease runs out',
    async () => {
      const lock = await baton(['lock', '--reason', 'a short freeze', '--lease', '10s', '-c', config], {
        BATON_USER: 'someone-else',
      });
      expect(lock.exitCode, lock.stderr).toBe(0);
      const short = await baton(['push', 'v1', '--lock-wait', '1s', '-c', config]);
      expect(short.exitCode, short.stderr).toBe(4);
      expect(short.stderr).toMatch(/still held by someone-else .* after waiting 1s: a short freeze/);
      // The lab runs v1 already: forced, so that the push that waited runs.
      const queued = await baton([
        'push',
        'v1',
        '--force',
        'review test: a queued run',
        '--lock-wait',
        '2m',
        '-c',
        config,
        '--json',
      ]);
      expect(queued.exitCode, queued.stderr).toBe(0);
      expect(queued.stderr).toMatch(
        /waiting up to 120s for the release lock on .*, held by someone-else .*: a short freeze/,
      );
      expect(JSON.parse(queued.stdout)).toMatchObject({ outcome: 'succeeded', tag: 'v1' });
    },
  );
});
