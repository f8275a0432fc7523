// Pure builders and parsers for what the nginx driver runs: `nginx -t`, `nginx -s reload`, the
// master's workers (old ones say "shutting down"), TCP connections seen by `ss` on the balancer
// and on the app hosts, and stub_status. Nothing here runs anything.
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import { raised } from '../transport/privilege.js';
import { checkPath } from './balancer-files.js';
import { parseTcpInfo } from './tcp-busy.js';

import { NGINX_UPSTREAM_NAME as UPSTREAM_NAME } from '../config/balancer-names.js';

export function checkUpstreamName(name: string): string {
  if (typeof name !== 'string' || !UPSTREAM_NAME.test(name)) {
    throw new UserError(
      `nginx upstream name ${JSON.stringify(name)} (${typeof name}) is not usable: expected letters, digits, _ . -`,
      'fix balancer.backend in baton.yml',
    );
  }
  return name;
}

/**
 * `nginx -t`: validates the whole configuration on disk; the running nginx is not touched (raised: it opens what root
 * opens).
 */
export function nginxTestArgv(nginx: string, sudo: boolean): string[] {
  return raised([nginx, '-t'], sudo);
}

/**
 * `nginx -s reload`: the master re-reads the files, starts new workers, and old ones finish their requests (raised: it
 * signals root's master).
 */
export function nginxReloadArgv(nginx: string, sudo: boolean): string[] {
  return raised([nginx, '-s', 'reload'], sudo);
}

/** The master's pid (from its pid file) and its children, one `pid args` line each. */
export function workersArgv(pidFile: string): string[] {
  return [
    'sh',
    '-c',
    'read p < "$1" && echo "master $p" && exec ps --ppid "$p" -o pid=,args=',
    'sh',
    checkPath('balancer.pidFile', pidFile),
  ];
}

/**
 * The wall clock and the file's mtime (ns), the uptime and clock ticks, and each of the master's
 * children with its start (ticks since boot): whether the running workers started before the
 * file last changed (a run killed between writing it and reloading).
 */
export function workersVsFileArgv(pidFile: string, file: string): string[] {
  const script = [
    'read p < "$1" || exit 3',
    'date +%s.%N',
    'stat -c %.9Y -- "$2"',
    'cut -d" " -f1 /proc/uptime',
    'getconf CLK_TCK',
    // field 22 of /proc/PID/stat once the "(comm)" before it is cut off
    'for w in $(ps --ppid "$p" -o pid=); do ' +
      'printf "%s %s\\n" "$(sed "s/^.*) //" "/proc/$w/stat" | cut -d" " -f20)" "$(ps -o args= -p "$w")"; done',
  ].join('\n');
  return ['sh', '-c', script, 'sh', checkPath('balancer.pidFile', pidFile), checkPath('balancer.upstreamFile', file)];
}

/**
 * A worker started after the file changed runs it (the reload that started it was signalled
 * after the write); this much later counts as "after", for the 10 ms tick of the start time and
 * the two clocks read a moment apart. Nearer than that reloads again: the safe side.
 */
const CLOCK_MARGIN_S = 0.02;

/**
 * True when some live worker (not shutting down) started before the file last changed (or too near it to tell), or none
 * runs.
 */
export function workersPredateFile(stdout: string): boolean {
  const [now, mtime, uptime, ticks, ...rest] = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const nums = [now, mtime, uptime, ticks].map(Number);
  if (nums.some((n) => !Number.isFinite(n)) || (nums[3] as number) <= 0) {
    throw new Error(
      `expected the clock, the file's mtime, the uptime and CLK_TCK, ` +
        `got: ${stdout.trim().slice(0, 200) || '(nothing)'}`,
    );
  }
  const [nowS, mtimeS, uptimeS, tck] = nums as [number, number, number, number];
  const fileAge = nowS - mtimeS;
  const workerAges = rest.flatMap((l) => {
    const w = /^(\d+)\s+nginx: worker process(.*)$/.exec(l);
    return w && !/shutting down/.test(w[2] as string) ? [uptimeS - Number(w[1]) / tck] : [];
  });
  return workerAges.length === 0 || workerAges.some((age) => age > fileAge - CLOCK_MARGIN_S);
}

export interface NginxWorker {
  pid: number;
  /** An old worker after a reload: takes no new connections, finishes the ones it has. */
  shuttingDown: boolean;
}

/** Parse workersArgv's answer (cache manager/loader processes are left out). */
export function parseWorkers(stdout: string): { master: number; workers: NginxWorker[] } {
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const m = /^master (\d+)$/.exec(lines[0] ?? '');
  if (!m) throw new Error(`expected the nginx master pid, got: ${(lines[0] ?? '(nothing)').slice(0, 200)}`);
  const workers = lines.slice(1).flatMap((l) => {
    const w = /^(\d+)\s+nginx: worker process(.*)$/.exec(l);
    return w ? [{ pid: Number(w[1]), shuttingDown: /shutting down/.test(w[2] as string) }] : [];
  });
  return { master: Number(m[1]), workers };
}

/** A TCP endpoint `ss` printed. */
export interface Endpoint {
  address: string;
  port: number;
}

export interface Connection {
  local: Endpoint;
  peer: Endpoint;
  /**
   * Owning process names (only with `ss -p`, and only for processes the user may see: all of them as root, its own
   * otherwise).
   */
  processes: string[];
  /** Queues, byte counts and the time since data last went each way (only with `ss -i`). */
  tcp?: {
    recvQ: number;
    sendQ: number;
    bytesSent: number;
    bytesReceived: number;
    lastSendMs?: number;
    lastRecvMs?: number;
  };
}

function endpoint(s: string): string {
  if (isIP(s) === 6) return `[${s}]`;
  if (isIP(s) === 4) return s;
  throw new UserError(
    `${JSON.stringify(s)} is not an IP address`,
    'nginx upstream servers must be written as addresses for baton to count their connections',
  );
}

/**
 * Established connections from this host to the given members (`ss -Htinp`: the owning process,
 * where the user may see it, and the TCP timers that tell a request in flight from an idle pooled
 * connection), run on the balancer.
 */
export function balancerConnsArgv(members: readonly Endpoint[]): string[] {
  if (members.length === 0) throw new Error('balancerConnsArgv needs a member');
  const filter = members.map((m) => `dst ${endpoint(m.address)}:${m.port}`).join(' or ');
  return ['ss', '-Htinp', 'state', 'established', `( ${filter} )`];
}

/** Established connections to a member's own port, with their TCP timers, run on the app host itself. */
export function appConnsArgv(port: number): string[] {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is not a TCP port`);
  return ['ss', '-Htin', 'state', 'established', `( sport = :${port} )`];
}

/**
 * Parse `ss -Ht[n][i][p] state established`: Recv-Q Send-Q Local Peer [Process], each followed by an indented detail
 * line with -i.
 */
export function parseSs(stdout: string): Connection[] {
  const out: Connection[] = [];
  let last: Connection | undefined;
  let queues: [number, number] = [0, 0];
  for (const raw of stdout.split('\n')) {
    if (raw.trim() === '') continue;
    // ss -i puts each connection's details on the next line, indented.
    if (/^\s/.test(raw) && last) {
      last.tcp = parseTcpInfo(raw, ...queues);
      continue;
    }
    last = undefined;
    const cols = raw.trim().split(/\s+/);
    const local = parseEndpoint(cols[2] ?? '');
    const peer = parseEndpoint(cols[3] ?? '');
    if (!local || !peer) continue;
    const processes = [
      ...cols
        .slice(4)
        .join(' ')
        .matchAll(/\("([^"]+)",pid=/g),
    ].map((m) => m[1] as string);
    queues = [Number(cols[0]) || 0, Number(cols[1]) || 0];
    last = { local, peer, processes };
    out.push(last);
  }
  return out;
}

function parseEndpoint(s: string): Endpoint | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s.replace(/%[^:\]]+/, ''));
  return m ? { address: (m[1] as string).replace(/^::ffff:/, ''), port: Number(m[2]) } : undefined;
}

/**
 * Whether one of `names` owns the connection, or `ss` could not say (it shows only the user's own processes when not
 * root).
 */
export function ownedBy(c: Connection, names: readonly string[]): boolean {
  return c.processes.length === 0 || c.processes.some((p) => names.includes(p));
}

export function key(a: Endpoint, b: Endpoint): string {
  return `${a.address}:${a.port}>${b.address}:${b.port}`;
}

/** GET a stub_status page on the balancer host. */
export function stubStatusArgv(url: string): string[] {
  if (!/^https?:\/\//.test(url)) throw new UserError(`balancer.statusUrl ${JSON.stringify(url)} is not an http(s) URL`);
  return ['curl', '-sS', '-f', '--max-time', '5', url];
}

/** stub_status: "Active connections: N / server accepts handled requests / A H R / Reading …". */
export function parseStubStatus(text: string): { active: number; accepts: number; handled: number; requests: number } {
  const active = /Active connections:\s*(\d+)/.exec(text);
  const totals = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(text);
  if (!active || !totals)
    throw new Error(`expected nginx stub_status, got: ${text.trim().slice(0, 200) || '(nothing)'}`);
  return {
    active: Number(active[1]),
    accepts: Number(totals[1]),
    handled: Number(totals[2]),
    requests: Number(totals[3]),
  };
}

/**
 * Error-log lines for failed attempts at these servers: with proxy_next_upstream each one was
 * passed to the next server (or, with none left, became the client's 502/504).
 */
export function failedAttemptPattern(members: readonly Endpoint[]): string {
  const addrs = members.map((m) => `${endpoint(m.address)}:${m.port}`.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&'));
  const failures =
    'connect\\(\\) failed|upstream prematurely closed|upstream timed out|recv\\(\\) failed|reset by peer';
  return `(${failures}).* upstream: "[a-z]+://(${addrs.join('|')})[/"]`;
}

/** Error-log lines where nginx had no server left to try (answered 502). */
export function noLiveUpstreamsPattern(upstream: string): string {
  return (
    'no live upstreams while connecting to upstream.* upstream: ' +
    `"[a-z]+://${checkUpstreamName(upstream).replace(/[.]/g, '\\.')}[/"]`
  );
}
