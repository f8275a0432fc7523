import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { parseTable } from '../../src/balancers/haproxy-stat.js';
import { describeSessionsLeft, waitForSessions } from '../../src/balancers/session-drain.js';
import type { SessionRead, StickySession } from '../../src/balancers/types.js';
import { UserError } from '../../src/errors.js';
import type { RunOptions, RunResult, Transport } from '../../src/transport/types.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/haproxy/${name}`, import.meta.url), 'utf8');

/**
 * A balancer whose members' users come and go on a script, and a clock that moves only when the wait sleeps or reads.
 */
function fakeBalancer(script: (t: number) => SessionRead) {
  let t = 0;
  const reads: number[] = [];
  return {
    balancer: {
      async stickySessions(): Promise<SessionRead> {
        reads.push(t);
        const r = script(t);
        t += 10;
        return r;
      },
    },
    reads,
    now: () => t,
    sleep: async (ms: number) => void (t += ms),
  };
}

const entries = (n: number, expiresInMs: number): StickySession[] =>
  Array.from({ length: n }, (_, i) => ({ key: `secret-session-${i}`, expiresInMs }));

describe('waitForSessions', () => {
  it('ends at once when no session is bound and nothing is in flight, however recent the last request', async () => {
    const f = fakeBalancer(() => ({ bound: { web1a: [] }, idleMs: { web1a: 200 }, inFlight: { web1a: 0 } }));
    const r = await waitForSessions(f.balancer, ['web1a'], {
      idleAfterMs: 60_000,
      timeoutMs: 600_000,
      table: 'web',
      now: f.now,
      sleep: f.sleep,
    });
    expect(r).toMatchObject({ drained: true, polls: 1, boundAtStart: 0, boundAtEnd: 0, left: [] });
  });

  it(
    'waits while a bound session is younger than the idle limit, ' + 'and ends when the member has been idle that long',
    async () => {
      // Two users on web1a: they make a request every 2 s until t=5000, then leave.
      const f = fakeBalancer((t) => {
        const last = t < 5000 ? t - (t % 2000) : 4000;
        return {
          bound: { web1a: entries(2, 1_800_000 - (t - last)) },
          idleMs: { web1a: t - last },
          inFlight: { web1a: 0 },
        };
      });
      const progress: number[] = [];
      const r = await waitForSessions(f.balancer, ['web1a'], {
        idleAfterMs: 3000,
        timeoutMs: 600_000,
        table: 'web',
        pollMs: 500,
        now: f.now,
        sleep: f.sleep,
        onProgress: (left) => progress.push(left.length),
      });
      expect(r.drained).toBe(true);
      // The last request was at 4000: the wait cannot end before 7000, and ends within a poll of it.
      expect(r.elapsedMs).toBeGreaterThanOrEqual(7000);
      expect(r.elapsedMs).toBeLessThan(7000 + 520);
      expect(r.boundAtStart).toBe(2);
      expect(r.boundAtEnd).toBe(2); // idle, not yet expired from the table: forgotten by the step
      expect(r.activeDuringWait).toBe(2); // both were seen taking requests (their expiry went up)
      expect(progress[0]).toBe(1);
    },
  );

  it('counts the member as busy while a request is in flight, bound sessions or not', async () => {
    const f = fakeBalancer((t) => ({
      bound: { web1a: [] },
      idleMs: { web1a: 0 },
      inFlight: { web1a: t < 1000 ? 1 : 0 },
    }));
    const r = await waitForSessions(f.balancer, ['web1a'], {
      idleAfterMs: 60_000,
      timeoutMs: 10_000,
      table: 'web',
      pollMs: 100,
      now: f.now,
      sleep: f.sleep,
    });
    expect(r.drained).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(1000);
  });

  it('without a table, waits on the idle time alone; a member that never took a request is free', async () => {
    const f = fakeBalancer((t) => ({ idleMs: { web1a: t + 500, web2a: null }, inFlight: { web1a: 0, web2a: 0 } }));
    const r = await waitForSessions(f.balancer, ['web1a', 'web2a'], {
      idleAfterMs: 2000,
      timeoutMs: 60_000,
      pollMs: 250,
      now: f.now,
      sleep: f.sleep,
    });
    expect(r.drained).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(r.boundAtStart).toBeUndefined();
  });

  it(
    'at the timeout, says who is still there, ' + 'counting sessions without naming them (a key is a session cookie)',
    async () => {
      const f = fakeBalancer((t) => ({
        bound: { web1a: entries(3, 1_800_000 - (t % 1000)), web2a: [] },
        idleMs: { web1a: t % 1000, web2a: 90_000 },
        inFlight: { web1a: 1, web2a: 0 },
      }));
      const r = await waitForSessions(f.balancer, ['web1a', 'web2a'], {
        idleAfterMs: 5000,
        timeoutMs: 4000,
        table: 'web',
        pollMs: 500,
        now: f.now,
        sleep: f.sleep,
      });
      expect(r.drained).toBe(false);
      expect(r.left.map((l) => l.member)).toEqual(['web1a']);
      const said = describeSessionsLeft(r.left);
      expect(said).toMatch(/^web1a: 3 sessions bound \(3 active\), 1 request in flight, last request \d s ago$/);
      expect(said).not.toContain('secret-session');
    },
  );
});

describe('parseTable', () => {
  it('reads the entries HAProxy 2.6 prints for a string-keyed table', () => {
    expect(parseTable(fixture('lab-show-table-server-1.txt'))).toEqual([
      { key: 'u1', expMs: 1799966, serverId: 1, serverKey: 'web1a' },
      { key: 'u9', expMs: 1200000, serverId: 1, serverKey: 'web1a' },
    ]);
  });

  it('refuses an answer that is not a table', () => {
    expect(() => parseTable('No such table\n')).toThrow(/expected show table/);
  });
});

/** Answers runtime API calls from the lab's real `show stat` and a table answer per server id. */
class RuntimeApi implements Transport {
  readonly host = 'lb.example.com';
  readonly lines: string[] = [];
  constructor(private readonly tables: Record<number, string>) {}
  async run(_argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const commands = String(opts?.stdin ?? '')
      .trim()
      .split(';');
    this.lines.push(commands.join(';'));
    const out = commands.map((c) => {
      if (c.startsWith('show stat')) return fixture('lab-show-stat-sticky.csv').trimEnd() + '\n\n';
      if (c === 'show table web data.server_id lt 0') return '# table: web, type: string, size:102400, used:3\n\n';
      if (c.endsWith('data.server_id lt 0')) return 'No such table\n\n';
      const id = /data\.server_id eq (\d+)$/.exec(c)?.[1];
      if (c.startsWith('show table') && id) return this.tables[Number(id)] ?? 'No such table\n\n';
      if (c.startsWith('clear table')) return '\n';
      throw new Error(`unexpected command ${c}`);
    });
    return { code: 0, stdout: out.join(''), stderr: '' };
  }
  async upload(): Promise<void> {}
  async download(): Promise<void> {}
}

describe('HaproxyBalancer sticky sessions', () => {
  const table = fixture('lab-show-table-server-1.txt');
  const empty = '# table: web, type: string, size:102400, used:3\n\n';

  it("learns the server ids once, then reads rows and each member's table entries in one round trip", async () => {
    const api = new RuntimeApi({ 1: table, 2: empty });
    const b = new HaproxyBalancer(api, { backend: 'web', socket: '/run/haproxy/admin.sock' });
    const first = await b.stickySessions(['web1a', 'web2a'], 'web');
    expect(api.lines).toEqual([
      'show stat web 4 -1',
      'show stat web 4 -1;show table web data.server_id eq 1;show table web data.server_id eq 2',
    ]);
    expect(first.bound?.['web1a']?.map((e) => e.key)).toEqual(['u1', 'u9']);
    expect(first.bound?.['web2a']).toEqual([]);
    expect(Object.keys(first.idleMs)).toEqual(['web1a', 'web2a']);
    await b.stickySessions(['web1a', 'web2a'], 'web');
    expect(api.lines).toHaveLength(3);
    expect(api.lines[2]).toBe(api.lines[1]);
  });

  it('without a table reads one row per member and its time since the last session', async () => {
    const api = new RuntimeApi({});
    const b = new HaproxyBalancer(api, { backend: 'web', socket: '/run/haproxy/admin.sock' });
    const read = await b.stickySessions(['web2b']);
    expect(api.lines).toEqual(['show stat web 4 -1']);
    expect(read.bound).toBeUndefined();
    expect(read.inFlight).toEqual({ web2b: 0 });
  });

  it('names the table when HAProxy has none by that name', async () => {
    const api = new RuntimeApi({});
    const b = new HaproxyBalancer(api, { backend: 'web', socket: '/run/haproxy/admin.sock' });
    const err = await b.stickySessions(['web1a'], 'web').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/has no stick table web/);
  });

  it('forgets the entries of drained members with one clear per member, and says how many there were', async () => {
    const api = new RuntimeApi({ 1: table, 2: empty });
    const b = new HaproxyBalancer(api, { backend: 'web', socket: '/run/haproxy/admin.sock' });
    expect(await b.forgetSessions(['web1a', 'web2a'], 'web')).toBe(2);
    expect(api.lines.at(-1)).toBe('clear table web data.server_id eq 1;clear table web data.server_id eq 2');
  });

  it('with nobody to read, only checks the table is there: one command, and a missing table is named', async () => {
    const api = new RuntimeApi({});
    const b = new HaproxyBalancer(api, { backend: 'web', socket: '/run/haproxy/admin.sock' });
    expect(await b.stickySessions([], 'web')).toEqual({ idleMs: {}, inFlight: {}, bound: {} });
    expect(api.lines).toEqual(['show table web data.server_id lt 0']);
    await expect(b.stickySessions([], 'carts')).rejects.toThrow(/has no stick table carts/);
  });

  it('refuses a table name that could split a runtime API line', async () => {
    const b = new HaproxyBalancer(new RuntimeApi({}), { backend: 'web', socket: '/run/haproxy/admin.sock' });
    await expect(b.stickySessions(['web1a'], 'web;shutdown sessions')).rejects.toThrow(/table name/);
  });
});
