import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adminStateOf,
  countersOf,
  memberCountersOf,
  membersOf,
  parseServersState,
  parseStatCsv,
  splitAddr,
  splitAnswers,
  stateOfStatus,
} from '../../src/balancers/haproxy-stat.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/haproxy/${name}`, import.meta.url), 'utf8');

describe('show stat CSV (captured from HAProxy 2.6.12)', () => {
  // web1a drained with one slow request in flight, web2a and dead1 in maint, web2b down by
  // its health check, two requests queued on the backend.
  const rows = parseStatCsv(fixture('local-show-stat-in-flight.csv'));
  const states = parseServersState(fixture('local-show-servers-state.txt'));

  it('keys every row by the header', () => {
    expect(rows.map((r) => r['svname'])).toEqual(['web1a', 'web2a', 'web1b', 'web2b', 'dead1', 'BACKEND']);
    expect(rows[0]).toMatchObject({ pxname: 'web', status: 'DRAIN', scur: '1', addr: '127.0.0.1:18001' });
  });

  it('turns server rows into members with address, port, state and sessions', () => {
    const members = membersOf(rows, 'web', states);
    expect(members.map((m) => [m.name, m.address, m.port, m.state, m.healthy, m.sessions, m.queued])).toEqual([
      ['web1a', '127.0.0.1', 18001, 'drain', true, 1, 0],
      ['web2a', '127.0.0.1', 18002, 'maint', undefined, 0, 0],
      ['web1b', '127.0.0.1', 18003, 'ready', true, 1, 0],
      ['web2b', '127.0.0.1', 18004, 'down', false, 0, 0],
      ['dead1', '127.0.0.1', 18009, 'maint', undefined, 0, 0],
    ]);
  });

  it("reads a member's maxconn (slim) as its limit, and leaves it out where none is set", () => {
    expect(membersOf(rows, 'web', states).map((m) => [m.name, m.limit])).toEqual([
      ['web1a', undefined],
      ['web2a', undefined],
      ['web1b', 1],
      ['web2b', undefined],
      ['dead1', undefined],
    ]);
  });

  it('reads backend counters from the BACKEND row, which already totals the servers', () => {
    expect(countersOf(rows, 'web')).toEqual({ requests: 24, http5xx: 12, redispatches: 7, retries: 0 });
    const servers = rows.filter((r) => r['svname'] !== 'BACKEND');
    // Per-server wredis add up to the backend's: summing both would count twice.
    expect(servers.reduce((n, r) => n + Number(r['wredis']), 0)).toBe(7);
    expect(countersOf(servers, 'web').redispatches).toBe(7);
  });

  it("counts each server's HTTP requests (req_tot), 5xx answers and rtime, the canary's analysis per member", () => {
    const timed = (n: number, ms: number) => [{ timed: n, recentMs: ms }];
    expect(memberCountersOf(rows, 'web')).toEqual({
      web1a: { requests: 8, http5xx: 4, failed: 0, latency: timed(8, 2) },
      web2a: { requests: 8, http5xx: 4, failed: 0, latency: timed(8, 2) },
      web1b: { requests: 8, http5xx: 4, failed: 0, latency: timed(8, 2) },
      web2b: { requests: 0, http5xx: 0, failed: 0, latency: timed(0, 0) },
      // dead1 (nothing listening) was switched away from 7 times: redispatched, each a failed attempt
      dead1: { requests: 0, http5xx: 0, failed: 7, latency: timed(0, 0) },
    });
    // A TCP backend's rows have no req_tot: its sessions are what it counts.
    const tcp = rows.map((r) => ({ ...r, req_tot: '' }));
    expect(memberCountersOf(tcp, 'web')['web1a']).toEqual({ requests: 9, http5xx: 4, failed: 0 });
    expect(memberCountersOf(rows, 'other')).toEqual({});
  });

  it("counts each server's failed attempts: econ, eresp, wretr and wredis, none of them in req_tot", () => {
    // Captured from HAProxy 2.6.12 (retries 2, option redispatch): `bad` answered 80 GET /, reset 20 before
    // answering (17 srv_abrt, and 3 ended in HAProxy's 502, each counted twice in eresp), then refused 80
    // connections, each redispatched to `good`; `gone` (nothing listening) was tried 3 times for each of 3
    // requests: 2 retries, then a connection error.
    const failedRows = parseStatCsv(fixture('local-show-stat-failed-attempts.csv'));
    const counted = memberCountersOf(failedRows, 'web');
    expect(counted['good']).toMatchObject({ requests: 200, http5xx: 0, failed: 0 });
    expect(counted['bad']).toMatchObject({ requests: 80, http5xx: 0, failed: 23 + 80 });
    expect(memberCountersOf(failedRows, 'lone')['gone']).toMatchObject({ requests: 0, http5xx: 0, failed: 3 + 6 });
    // HAProxy's own 502s are not in the server's hrsp_5xx: only the frontend saw them.
    expect(failedRows.find((r) => r['svname'] === 'FRONTEND' && r['pxname'] === 'public')?.['hrsp_5xx']).toBe('3');
  });

  it('parses the whole stat header of 2.6 (one row per line, empty cells kept)', () => {
    expect(Object.keys(rows[0] as object)).toContain('hrsp_5xx');
    expect(rows[1]?.['slim']).toBe('');
  });

  it('refuses an answer that is not CSV, quoting it', () => {
    expect(() => parseStatCsv('No such proxy.\n')).toThrow('got: No such proxy.');
    expect(() => parseServersState("Can't find backend.\n")).toThrow("Can't find backend.");
  });
});

describe('show stat CSV (captured from the lab: web1a drained with slow requests in flight, web2b in maint)', () => {
  const rows = parseStatCsv(fixture('lab-show-stat-draining.csv'));
  const states = parseServersState(fixture('lab-show-servers-state-draining.txt'));

  it('gives each member its address, port, state and sessions', () => {
    expect(membersOf(rows, 'web', states).map((m) => [m.name, m.address, m.port, m.state, m.sessions])).toEqual([
      ['web1a', '10.213.7.11', 8000, 'drain', 2],
      ['web2a', '10.213.7.12', 8000, 'ready', 18],
      ['web1b', '10.213.7.41', 8000, 'ready', 2],
      ['web2b', '10.213.7.42', 8000, 'maint', 2],
    ]);
  });

  it('counts 5xx the balancer made itself, which only the BACKEND row has', () => {
    const servers = rows.filter((r) => r['svname'] !== 'BACKEND');
    expect(countersOf(rows, 'web')).toEqual({ requests: 5718, http5xx: 2, redispatches: 3, retries: 0 });
    expect(countersOf(servers, 'web').http5xx).toBe(0);
  });

  it('reads an idle backend the same way', () => {
    const idle = membersOf(
      parseStatCsv(fixture('lab-show-stat-web.csv')),
      'web',
      parseServersState(fixture('lab-show-servers-state-web.txt')),
    );
    expect(idle.map((m) => m.name)).toEqual(['web1a', 'web2a', 'web1b', 'web2b']);
    expect(idle.every((m) => m.admin === 'ready' && m.port === 8000)).toBe(true);
  });
});

describe('show servers state', () => {
  it('reads admin and operational state, port and weight', () => {
    const s = parseServersState(fixture('local-show-servers-state.txt'));
    expect(s[0]).toEqual({
      backend: 'web',
      name: 'web1a',
      address: '127.0.0.1',
      port: 18001,
      opState: 2,
      adminBits: 8,
      weight: 1,
    });
    expect(s.map((x) => adminStateOf(x.adminBits))).toEqual(['drain', 'maint', 'ready', 'ready', 'maint']);
  });

  it('keeps a drained member drained while its checks fail (show stat says DOWN)', () => {
    const stat = parseStatCsv('# pxname,svname,qcur,scur,status,weight,addr\nweb,web2b,0,0,DOWN,1,10.0.0.4:8000\n');
    const state = parseServersState(
      '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_port\n3 web ' +
        '4 web2b 10.0.0.4 0 8 1 8000\n',
    );
    expect(membersOf(stat, 'web', state)[0]).toMatchObject({ state: 'drain', healthy: false, admin: 'drain' });
  });

  it('counts a ready member with weight 0 as drained for traffic', () => {
    const stat = parseStatCsv('# pxname,svname,qcur,scur,status,weight,addr\nweb,w,0,0,DRAIN,0,10.0.0.4:8000\n');
    const state = parseServersState(
      '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n3 web 4 w ' +
        '10.0.0.4 2 0 0\n',
    );
    expect(membersOf(stat, 'web', state)[0]).toMatchObject({ state: 'drain', admin: 'ready', weight: 0 });
  });
});

describe('status column alone', () => {
  it.each([
    ['UP', 'ready'],
    ['UP 1/3', 'ready'],
    ['no check', 'ready'],
    ['NOLB', 'ready'],
    ['DOWN', 'down'],
    ['DOWN 1/2', 'down'],
    ['DRAIN', 'drain'],
    ['DRAIN (agent)', 'drain'],
    ['MAINT', 'maint'],
    ['MAINT (via web/web1a)', 'maint'],
    ['MAINT (resolution)', 'maint'],
  ])('%s → %s', (status, state) => {
    expect(stateOfStatus(status)).toBe(state);
  });

  it('is what members are built from when servers state was not read', () => {
    const stat = parseStatCsv(
      '# pxname,svname,qcur,scur,status,weight,addr\nweb,a,2,3,UP 1/3,1,10.0.0.1:80\nweb,b,0,0,DOWN,1,10.0.0.2:80\n',
    );
    // UP 1/3: in service (ready) but its last check failed, so not healthy until checks pass again.
    expect(membersOf(stat, 'web').map((m) => [m.state, m.healthy, m.sessions, m.queued])).toEqual([
      ['ready', false, 3, 2],
      ['down', false, 0, 0],
    ]);
  });
});

describe('answers to several commands in one connection', () => {
  it('splits them at the empty line that ends each', () => {
    const a = splitAnswers(fixture('local-batch-response.txt'), 4);
    expect(a[0]).toBe('');
    expect(a[1]).toBe('No such server.');
    expect(parseStatCsv(a[2] as string)).toHaveLength(5);
    expect(parseServersState(a[3] as string)).toHaveLength(5);
  });

  it('pads a connection closed early', () => {
    expect(splitAnswers('\nNo such server.', 3)).toEqual(['', 'No such server.', '']);
  });
});

describe('addr column', () => {
  it.each([
    ['10.213.7.11:8000', { address: '10.213.7.11', port: 8000 }],
    ['[fd00::1]:8000', { address: 'fd00::1', port: 8000 }],
    ['web1.internal', { address: 'web1.internal' }],
  ])('%s', (addr, want) => {
    expect(splitAddr(addr)).toEqual(want);
  });
});
