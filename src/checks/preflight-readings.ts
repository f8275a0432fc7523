// What preflight reads from production: memory and disk on each app host (one round trip each,
// fixed scripts with the values as positional arguments), and the load at the balancer.
// The parsers are exported so they are tested on captured text.
import type { Balancer, Member } from '../balancers/types.js';
import type { Transport } from '../transport/types.js';
import type { HostDiskReading, HostMemoryReading, LoadReading } from './preflight.js';

/**
 * Memory of the process in pid file "$1" and its descendants, and what the host allows it.
 * The tree is walked from the pid file, never by process name: hosts that share a PID
 * namespace (containers) would otherwise count each other's processes.
 * Prints `memtotal KB`, then `cgroup BYTES` (memory.max, where its cgroup has one) and
 * `rss PID KB` a process (kB as the kernel gives them: some awks print big products as 1.7e+10),
 * or `pidfile missing` / `process not-running PID`.
 */
const MEMORY_SCRIPT = [
  'pidfile=$1',
  'awk \'/^MemTotal:/ { print "memtotal", $2 }\' /proc/meminfo',
  '[ -r "$pidfile" ] || { echo "pidfile missing"; exit 0; }',
  'pid=$(head -n 1 -- "$pidfile" | tr -cd 0-9)',
  '{ [ -n "$pid" ] && [ -d "/proc/$pid" ]; } || { echo "process not-running ${pid:-none}"; exit 0; }',
  'cg=$(sed -n "s/^0:://p" "/proc/$pid/cgroup" 2>/dev/null)',
  'if [ -n "$cg" ] && [ -r "/sys/fs/cgroup$cg/memory.max" ]; ' +
    'then echo "cgroup $(cat "/sys/fs/cgroup$cg/memory.max")"; fi',
  // Parent ids from /proc/*/stat (the field after the last ")"), then the tree breadth first.
  'cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$pid" \'',
  '  { rest = $0; sub(/^.*\\) /, "", rest); split(rest, f, " "); parent[$1] = f[2] }',
  '  END {',
  '    n = 1; tree[1] = root',
  '    for (i = 1; i <= n; i++) for (p in parent) if (parent[p] == tree[i]) tree[++n] = p',
  '    for (i = 1; i <= n; i++) {',
  '      file = "/proc/" tree[i] "/status"',
  '      while ((getline line < file) > 0) if (line ~ /^VmRSS:/) { split(line, v, " "); print "rss", tree[i], v[2] }',
  '      close(file)',
  '    }',
  "  }'",
].join('\n');

/** The argv that reads memory on an app host for the process in `pidFile`. */
export function memoryCommand(pidFile: string): string[] {
  return ['sh', '-c', MEMORY_SCRIPT, 'sh', pidFile];
}

/** Parse MEMORY_SCRIPT's answer. */
export function parseMemory(text: string, host: string, pidFile: string): HostMemoryReading {
  let memTotal: number | undefined;
  let cgroupMax: number | undefined;
  let notMeasured: string | undefined;
  const rss: number[] = [];
  for (const line of text.split('\n')) {
    const [word, a, b] = line.trim().split(/\s+/);
    if (word === 'memtotal' && /^\d+$/.test(a ?? '')) memTotal = Number(a) * 1024;
    // memory.max is `max` when the cgroup has no limit.
    else if (word === 'cgroup' && /^\d+$/.test(a ?? '')) cgroupMax = Number(a);
    else if (word === 'rss' && /^\d+$/.test(b ?? '')) rss.push(Number(b) * 1024);
    else if (word === 'pidfile') notMeasured = 'the pid file is missing or unreadable';
    else if (word === 'process')
      notMeasured =
        b === 'none' ? 'the pid file holds no process id' : `process ${b} (from the pid file) is not running`;
  }
  if (memTotal === undefined || memTotal <= 0) throw new Error(`no MemTotal in /proc/meminfo on ${host}`);
  const byCgroup = cgroupMax !== undefined && cgroupMax < memTotal;
  const limit = {
    memLimitBytes: byCgroup ? (cgroupMax as number) : memTotal,
    memLimitSource: byCgroup ? ('cgroup memory.max' as const) : ('MemTotal' as const),
  };
  if (notMeasured === undefined && rss.length === 0) notMeasured = 'no resident size read for its processes';
  if (notMeasured !== undefined) return { host, pidFile, notMeasured, ...limit };
  return { host, pidFile, rssBytesPerProcess: Math.max(...rss), processes: rss.length, ...limit };
}

/**
 * Free space where releases go: at "$1", or its nearest existing parent before the first release. Prints the directory,
 * then df's answer.
 */
const DISK_SCRIPT = [
  'p=$1',
  'while [ ! -e "$p" ]; do p=$(dirname -- "$p"); done',
  'printf "%s\\n" "$p"',
  'df -Pk -- "$p"',
].join('\n');

export function diskCommand(path: string): string[] {
  return ['sh', '-c', DISK_SCRIPT, 'sh', path];
}

/**
 * Parse DISK_SCRIPT's answer: the directory, then `df -Pk` (header, one row: fs, 1024-blocks, used, available,
 * capacity, mount).
 */
export function parseDisk(text: string, host: string): HostDiskReading {
  const [path, , row] = text.split('\n');
  const m = /\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s/.exec(row ?? '');
  if (!path || !m) throw new Error(`could not read free space on ${host}: ${JSON.stringify(text.slice(0, 200))}`);
  return { host, path, availableBytes: Number(m[3]) * 1024 };
}

export async function readMemory(transport: Transport, pidFile: string): Promise<HostMemoryReading> {
  const { stdout } = await transport.run(memoryCommand(pidFile));
  return parseMemory(stdout, transport.host, pidFile);
}

/** `command -v` for each name: the ones the host has, one a line. */
export function commandsPresentArgv(names: readonly string[]): string[] {
  return ['sh', '-c', 'for c; do command -v "$c" >/dev/null 2>&1 && echo "$c"; done; exit 0', 'sh', ...names];
}

/** Which of `names` the host can run (as the SSH user, on its PATH). */
export async function readCommandsPresent(transport: Transport, names: readonly string[]): Promise<Set<string>> {
  const { stdout } = await transport.run(commandsPresentArgv(names));
  return new Set(stdout.split('\n').filter((l) => names.includes(l)));
}

export async function readDisk(transport: Transport, path: string): Promise<HostDiskReading> {
  const { stdout } = await transport.run(diskCommand(path));
  return parseDisk(stdout, transport.host);
}

export interface LoadClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: LoadClock = { now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/**
 * The request rate (two counters() reads `sampleForMs` apart, over the time that really passed)
 * and the requests in flight and queued now, at the balancer.
 */
export async function readLoad(
  balancer: Balancer,
  sampleForMs: number,
  clock: LoadClock = realClock,
  measureRate = true,
): Promise<LoadReading> {
  // The rate takes sampleFor to measure: not worth the wait when nothing says what one host carries.
  if (!measureRate) {
    const members = await balancer.members();
    const perHost = commonLimit(members);
    return {
      sampledMs: 0,
      concurrency: members.reduce((n, m) => n + m.sessions + m.queued, 0),
      ...(perHost !== undefined ? { perHostConcurrencyFromBalancer: perHost } : {}),
    };
  }
  const first = await balancer.counters();
  const start = clock.now();
  const [members] = await Promise.all([balancer.members(), clock.sleep(sampleForMs)]);
  const second = await balancer.counters();
  const sampledMs = Math.max(1, clock.now() - start);
  if (second.requests < first.requests) {
    throw new Error(
      `the balancer's request counter went back (${first.requests} → ${second.requests}) ` +
        'while it was sampled: reloaded? Run preflight again',
    );
  }
  const perHost = commonLimit(members);
  return {
    requestsPerSecond: ((second.requests - first.requests) * 1000) / sampledMs,
    sampledMs,
    concurrency: members.reduce((n, m) => n + m.sessions + m.queued, 0),
    ...(perHost !== undefined ? { perHostConcurrencyFromBalancer: perHost } : {}),
  };
}

// The lowest limit, only when every member has one: a member without a limit says nothing of the rest.
function commonLimit(members: readonly Member[]): number | undefined {
  const limits = members.map((m) => m.limit);
  if (limits.length === 0 || limits.some((l) => l === undefined)) return undefined;
  return Math.min(...(limits as number[]));
}
