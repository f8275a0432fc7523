// Parsers for HAProxy 2.6 runtime API answers: `show stat` CSV, `show servers state`, and
// the answer to several `;`-separated commands sent in one connection.
import type { BackendCounters, Member, MemberCounters, MemberState } from './types.js';
import type { AdminState } from './haproxy-commands.js';

/** One `show stat` row, keyed by the CSV header's column names. */
export type StatRow = Record<string, string>;

/** Split the answer to N commands into N answers: each ends at its first empty line. */
export function splitAnswers(text: string, count: number): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const answers: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (answers.length === count) break;
    if (line === '') {
      answers.push(current.join('\n'));
      current = [];
    } else {
      current.push(line);
    }
  }
  // A connection closed early leaves the last answer without its empty line.
  if (answers.length < count && current.length > 0) answers.push(current.join('\n'));
  while (answers.length < count) answers.push('');
  return answers;
}

/** Parse `show stat` CSV (header `# pxname,svname,…`); throws with HAProxy's own words when the answer is not CSV. */
export function parseStatCsv(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0];
  if (header === undefined || !header.startsWith('# pxname,')) {
    throw new Error(`expected show stat CSV, got: ${header === undefined ? '(nothing)' : header.slice(0, 200)}`);
  }
  const columns = header.slice(2).split(',');
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    const row: StatRow = {};
    columns.forEach((c, i) => {
      if (c !== '' && c !== '-') row[c] = cells[i] ?? '';
    });
    return row;
  });
}

/** One line of `show servers state BE`. */
export interface ServerStateRow {
  backend: string;
  name: string;
  address: string;
  port?: number;
  /** srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** srv_admin_state bit field. */
  adminBits: number;
  /** srv_uweight: the weight set at run time. */
  weight: number;
}

/** Parse `show servers state` (a version line `1`, a `# be_id be_name …` header, then space-separated rows). */
export function parseServersState(text: string): ServerStateRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerAt = lines.findIndex((l) => l.startsWith('# be_id'));
  if (headerAt < 0) {
    throw new Error(`expected show servers state, got: ${(lines[0] ?? '(nothing)').slice(0, 200)}`);
  }
  const columns = (lines[headerAt] as string).slice(2).split(' ');
  return lines.slice(headerAt + 1).map((line) => {
    const cells = line.split(' ');
    const get = (c: string): string => cells[columns.indexOf(c)] ?? '';
    const port = Number(get('srv_port'));
    return {
      backend: get('be_name'),
      name: get('srv_name'),
      address: get('srv_addr'),
      ...(Number.isInteger(port) && port > 0 ? { port } : {}),
      opState: Number(get('srv_op_state')),
      adminBits: Number(get('srv_admin_state')),
      weight: Number(get('srv_uweight')),
    };
  });
}

// srv_admin_state bits (include/haproxy/server-t.h): forced, inherited, config, resolution
// and hostname maintenance; forced and inherited drain.
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const ADMIN_DRAIN = 0x08 | 0x10;

/** The administrative state those bits mean. */
export function adminStateOf(bits: number): AdminState {
  if (bits & ADMIN_MAINT) return 'maint';
  if (bits & ADMIN_DRAIN) return 'drain';
  return 'ready';
}

/**
 * The state a status column alone tells: MAINT…, DRAIN…, DOWN…, else in service
 * (UP, "UP 1/3" going down, "no check", NOLB). A drained server that fails its checks
 * shows DOWN here, which is why members() reads `show servers state` as well.
 */
export function stateOfStatus(status: string): MemberState {
  if (status.startsWith('MAINT')) return 'maint';
  if (status.startsWith('DRAIN')) return 'drain';
  if (status.startsWith('DOWN')) return 'down';
  return 'ready';
}

/** Whether the health checks consider the server able to serve (undefined in maintenance, where nothing is checked). */
export function healthOfStatus(status: string): boolean | undefined {
  if (status.startsWith('MAINT')) return undefined;
  if (status.startsWith('DOWN')) return false;
  // DRAIN is shown only while the server is up.
  return true;
}

/** `10.213.7.11:8000`, `[fd00::1]:8000` or a bare address → address and port. */
export function splitAddr(addr: string): { address: string; port?: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr) ?? /^([^:]+)(?::(\d+))?$/.exec(addr);
  if (!m) return { address: addr };
  return { address: m[1] as string, ...(m[2] ? { port: Number(m[2]) } : {}) };
}

/** A member with its admin state kept apart, which is what a change is verified against. */
export interface HaproxyMember extends Member {
  admin: AdminState;
  weight: number;
}

/** Join a server's `show stat` row with its `show servers state` row (when there is one) into a Member. */
export function memberOf(row: StatRow, state?: ServerStateRow): HaproxyMember {
  const status = row['status'] ?? '';
  const fromAddr = splitAddr(row['addr'] ?? '');
  const address = fromAddr.address || state?.address || '';
  const port = fromAddr.port ?? state?.port;
  const running = state
    ? adminStateOf(state.adminBits) === 'maint'
      ? undefined
      : state.opState !== 0
    : healthOfStatus(status);
  // "UP 1/2": in service, but its last check failed (a restart a moment ago, or on its way down).
  // Not healthy until checks pass again, so `ready` waits before the other cluster is drained.
  const healthy = running === true && /^UP \d+\/\d+/.test(status) ? false : running;
  const admin = state
    ? adminStateOf(state.adminBits)
    : stateOfStatus(status) === 'down'
      ? 'ready'
      : (stateOfStatus(status) as AdminState);
  const weight = state ? state.weight : Number(row['weight'] ?? 1);
  let memberState: MemberState;
  if (admin !== 'ready') memberState = admin;
  else if (running === false) memberState = 'down';
  // Weight 0 takes no new requests: as far as traffic goes it is drained.
  else if (weight === 0) memberState = 'drain';
  else memberState = 'ready';
  return {
    name: row['svname'] ?? '',
    address,
    ...(port !== undefined ? { port } : {}),
    state: memberState,
    ...(healthy !== undefined ? { healthy } : {}),
    sessions: statNumber(row['scur']),
    queued: statNumber(row['qcur']),
    // slim: the server's maxconn; empty when none is set.
    ...(statNumber(row['slim']) > 0 ? { limit: statNumber(row['slim']) } : {}),
    admin,
    weight,
  };
}

/** Members of `backend` from its `show stat` rows (and `show servers state` rows, when read). */
export function membersOf(
  rows: readonly StatRow[],
  backend: string,
  states: readonly ServerStateRow[] = [],
): HaproxyMember[] {
  return rows
    .filter((r) => r['pxname'] === backend && r['svname'] !== 'BACKEND' && r['svname'] !== 'FRONTEND')
    .map((r) =>
      memberOf(
        r,
        states.find((s) => s.backend === backend && s.name === r['svname']),
      ),
    );
}

/**
 * Counters of `backend`. The BACKEND row already carries the totals (HAProxy counts a
 * retry or redispatch on the backend and on the server it happened on), so server rows are
 * summed only when the backend row was not read.
 */
export function countersOf(rows: readonly StatRow[], backend: string): BackendCounters {
  const mine = rows.filter((r) => r['pxname'] === backend);
  const be = mine.find((r) => r['svname'] === 'BACKEND');
  const source = be ? [be] : mine.filter((r) => r['svname'] !== 'FRONTEND');
  const sum = (col: string): number => source.reduce((n, r) => n + statNumber(r[col]), 0);
  // req_tot is HTTP requests; a TCP backend only counts sessions (stot).
  const requests = source.some((r) => (r['req_tot'] ?? '') !== '') ? sum('req_tot') : sum('stot');
  return { requests, http5xx: sum('hrsp_5xx'), redispatches: sum('wredis'), retries: sum('wretr') };
}

/**
 * Each server's requests (req_tot; stot where the row has none) and 5xx answers in `backend`, and,
 * on an HTTP backend, its response time: rtime, a moving mean over min(req_tot, 512) requests.
 * Its failed attempts are what HAProxy counts on the server they failed on (management guide,
 * CSV format): econ, connections that failed with no retry left; eresp, responses that failed
 * (srv_abrt included: a server resetting the connection before answering, which req_tot and
 * hrsp_5xx leave out, though the client gets HAProxy's 502 or a reset); wretr, connections
 * retried on it; wredis, requests redispatched away from it. HAProxy counts each failed attempt
 * under one of them (a failed connection is retried, redispatched or, on the last try, econ).
 */
export function memberCountersOf(rows: readonly StatRow[], backend: string): Record<string, MemberCounters> {
  const servers = rows.filter(
    (r) => r['pxname'] === backend && r['svname'] !== 'BACKEND' && r['svname'] !== 'FRONTEND',
  );
  return Object.fromEntries(
    servers.map((r) => [
      r['svname'] as string,
      {
        requests: (r['req_tot'] ?? '') !== '' ? statNumber(r['req_tot']) : statNumber(r['stot']),
        http5xx: statNumber(r['hrsp_5xx']),
        failed: ['econ', 'eresp', 'wretr', 'wredis'].reduce((n, col) => n + statNumber(r[col]), 0),
        ...((r['req_tot'] ?? '') !== '' && (r['rtime'] ?? '') !== ''
          ? { latency: [{ timed: statNumber(r['req_tot']), recentMs: statNumber(r['rtime']) }] }
          : {}),
      },
    ]),
  );
}

/** A numeric stat cell; empty or absent reads 0. */
export function statNumber(v: string | undefined): number {
  const n = Number(v);
  return v === undefined || v === '' || !Number.isFinite(n) ? 0 : n;
}

/** One entry of `show table`: `0x…: key=u1 use=0 exp=1799966 server_id=1 server_key=web1a`. */
export interface TableEntry {
  key: string;
  /** Milliseconds until the entry expires (absent for a table without expire). */
  expMs?: number;
  serverId?: number;
  serverKey?: string;
}

/**
 * Parse the answer to `show table T [filter]`: a `# table: …` header, then one entry a line.
 * A key is printed as HAProxy stores it and holds no space for string keys taken from cookies
 * or headers; the fields after it are `name=value` words.
 */
export function parseTable(text: string): TableEntry[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (!lines[0]?.startsWith('# table:'))
    throw new Error(`expected show table, got: ${(lines[0] ?? '(nothing)').slice(0, 200)}`);
  return lines.slice(1).flatMap((line) => {
    const fields = new Map<string, string>();
    for (const word of line.replace(/^0x[0-9a-f]+:\s*/i, '').split(/\s+/)) {
      const at = word.indexOf('=');
      if (at > 0) fields.set(word.slice(0, at), word.slice(at + 1));
    }
    const key = fields.get('key');
    if (key === undefined) return [];
    const exp = Number(fields.get('exp'));
    const serverId = Number(fields.get('server_id'));
    return [
      {
        key,
        ...(fields.has('exp') && Number.isFinite(exp) ? { expMs: exp } : {}),
        ...(fields.has('server_id') && Number.isInteger(serverId) ? { serverId } : {}),
        ...(fields.has('server_key') ? { serverKey: fields.get('server_key') as string } : {}),
      },
    ];
  });
}

/** `lastsess` of a server row: seconds since it last took a session, -1 (or empty) when never. */
export function lastSessionMs(row: StatRow): number | null {
  const v = Number(row['lastsess']);
  return row['lastsess'] === undefined || row['lastsess'] === '' || !Number.isFinite(v) || v < 0 ? null : v * 1000;
}
