// Sticky sessions against the lab's real HAProxy (a stick table on the shop_session cookie):
// users who each make a few requests in one session through a push. With balancer.sessions the
// drain waits for them, so no user's requests split across releases or members and none fails;
// a user who never leaves stops the push at sessions.timeout, reversed, with who was there said.
// How many sessions today's request-only drain breaks is measured in `npm run bench:sessions`.
// Through a canary, the stick table keeps each user on the member (so the release) it first
// reached: users who send the cookie never see both releases, users whose cookie HAProxy does not
// stick on do.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { startLoad } from '../lab/load.js';
import { startSessionUsers } from '../lab/session-users.js';
import { currentReleases, onHost, readyAllHaproxyMembers } from './helpers/lab.js';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'sessions-test' } });
}

const URL_ = 'http://10.213.7.2/version';
const configWith = (name: string, sessions: Record<string, unknown>) =>
  writeLabConfig(join(mkdtempSync(join(tmpdir(), `baton-sessions-${name}-`)), 'baton.yml'), [
    [['balancer', 'sessions'], sessions],
  ]);

async function tableEntries(): Promise<number> {
  const out = await onHost('lb.baton.test', 'echo "show table web" | socat stdio /run/haproxy/admin.sock | head -1');
  return Number(/used:(\d+)/.exec(out)?.[1] ?? NaN);
}

describe('balancer.sessions naming a stick table HAProxy does not have', () => {
  it('stops the push before anything changes (exit 64), naming the table', async () => {
    readyAllHaproxyMembers();
    const config = configWith('no-table', { track: 'table', table: 'carts', idleAfter: '2s', timeout: '1m' });
    const before = await currentReleases();
    const r = await baton('push', 'v2', '-c', config);
    expect(r.exitCode, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/has no stick table carts/);
    expect(r.stderr).not.toMatch(/step drain/);
    expect(await currentReleases()).toEqual(before);
  });
});

describe.each(['table', 'idle'] as const)('a push with balancer.sessions track: %s', (track) => {
  let config: string;
  beforeAll(async () => {
    readyAllHaproxyMembers();
    config = configWith(track, { track, idleAfter: '2s', timeout: '1m' });
    const r = await baton('push', 'v1', '-c', config);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it(
    'lets every user finish on the release and member they started on: ' + '0 broken sessions, 0 failed requests',
    async () => {
      const users = startSessionUsers({ url: URL_, users: 8, requestsPerSession: 5, thinkMs: 400 });
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 300, concurrency: 4 });
      await new Promise((r) => setTimeout(r, 2000)); // users are mid-session when the first drain begins
      const r = await baton('push', 'v2', '-c', config, '--json');
      await new Promise((r) => setTimeout(r, 1000));
      const [report, requests] = [await users.stop(), await load.stop()];
      expect(r.exitCode, r.stderr).toBe(0);
      expect(report.sessions).toBeGreaterThan(8);
      expect(report.broken, JSON.stringify(report)).toBe(0);
      expect(report.failedRequests).toBe(0);
      expect(requests.failed).toBe(0);
      expect(report.byRelease['v1']).toBeGreaterThan(0);
      expect(report.byRelease['v2']).toBeGreaterThan(0);
      for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-/);

      // The journal says what each wait did; with a table it counted the sessions and dropped them once over.
      const journal = readJournal(JSON.parse(r.stdout).journal as string);
      const waits = journal.filter((e) => e.event === 'step-ok' && e.step.startsWith('wait-drain-'));
      expect(waits).toHaveLength(2);
      const begun = journal.filter((e) => e.event === 'step-begin' && e.step.startsWith('wait-drain-'));
      for (const b of begun) expect('title' in b && b.title).toMatch(/sticky sessions/);
      if (track === 'table') {
        const bound = waits.map(
          (w) =>
            (
              w as {
                changed?: { sessionsBoundAtStart?: number; sessionsForgotten?: number; sessionsIdleAtEnd?: number };
              }
            ).changed,
        );
        expect(bound.some((c) => (c?.sessionsBoundAtStart ?? 0) > 0)).toBe(true);
        for (const c of bound) expect(c?.sessionsForgotten).toBe(c?.sessionsIdleAtEnd);
      }
      // Nothing in the journal or the output names a session: its key is the user's cookie.
      const said = JSON.stringify(journal) + r.stdout + r.stderr;
      expect(report.sampleCookies.length).toBeGreaterThan(0);
      for (const cookie of report.sampleCookies) expect(said).not.toContain(cookie);
    },
  );

  if (track === 'table')
    it('keeps every sticky user on one release through a canary: 0 of them see both, users without do', async () => {
      const canary = ['--canary', '5%:6s,25%:6s'];
      // Whichever release is not live (the push before may or may not have run).
      const live = Object.values(await currentReleases());
      const [to, from] = live.every((r) => r.startsWith('v1-')) ? ['v2', 'v1'] : ['v1', 'v2'];
      const plan = await baton('plan', to, '-c', config, ...canary);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout).toContain(
        'users stay on the release they reached: sticky sessions (balancer.sessions, table) keep each on its member',
      );
      const sticky = startSessionUsers({ url: URL_, users: 8, requestsPerSession: 5, thinkMs: 400 });
      // The same users with a cookie the lab's HAProxy does not stick on: balanced request by request.
      const loose = startSessionUsers({ url: URL_, users: 8, requestsPerSession: 5, thinkMs: 400, cookie: 'plain' });
      await new Promise((r) => setTimeout(r, 2000));
      const r = await baton('push', to, '-c', config, ...canary, '--json');
      await new Promise((r) => setTimeout(r, 1000));
      const [kept, free] = [await sticky.stop(), await loose.stop()];
      const said = ({ sampleCookies: _cookies, ...r }: typeof kept) => JSON.stringify(r);
      console.log(`through a canary, sticky users: ${said(kept)}; users not stuck: ${said(free)}`);
      expect(r.exitCode, r.stderr).toBe(0);
      const journal = readJournal(JSON.parse(r.stdout).journal as string);
      const judged = journal.flatMap((e) =>
        e.event === 'step-ok' && /^canary-[ab]-\d$/.test(e.step) ? [(e.changed as { weight: number }).weight] : [],
      );
      expect(judged).toEqual([5, 25]);
      expect(kept.sessions).toBeGreaterThan(8);
      expect(kept.brokenBy.release, JSON.stringify(kept)).toBe(0);
      expect(kept.broken).toBe(0);
      expect(kept.byRelease[from]).toBeGreaterThan(0);
      expect(kept.byRelease[to]).toBeGreaterThan(0);
      // Without stickiness a user's requests land on both releases while both are in the pool.
      expect(free.brokenBy.release).toBeGreaterThan(0);
    });

  if (track === 'table')
    it('stops at sessions.timeout when a user never leaves, says who is still there, and reverses', async () => {
      const short = configWith('stay', { track: 'table', idleAfter: '2s', timeout: '3s' });
      // One user who keeps clicking for the whole push: a session that is never idle.
      const stayer = startSessionUsers({ url: URL_, users: 4, requestsPerSession: 10_000, thinkMs: 200 });
      await new Promise((r) => setTimeout(r, 1000));
      const before = await currentReleases();
      // The release that is not live: a push of the live one would change nothing ("No changes").
      const to = Object.values(before).every((r) => r.startsWith('v1-')) ? 'v2' : 'v1';
      const r = await baton('push', to, '-c', short, '--json');
      await stayer.stop();
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /users were still on web\d[ab](, web\d[ab])* after 3s: web\d[ab]: \d+ sessions? bound \(\d+ active\)/,
      );
      expect(JSON.parse(r.stdout).error.result.outcome).toBe('reversed');
      expect(await currentReleases()).toEqual(before);
      expect(await tableEntries()).toBeGreaterThan(0); // sessions that did not end are kept, not forgotten
    });
});
