// What preflight concludes from what it read: pure functions of plain readings, so every
// refusal (and the numbers it names) is tested without a host. The reading is in
// preflight-readings.ts; the service that runs both is src/release/preflight.ts.
import type { ClusterId } from '../config/config.js';

export type PreflightCheck =
  'reach' | 'tag' | 'balancer-config' | 'privileges' | 'access' | 'disk' | 'capacity' | 'memory' | 'internal' | 'tools';

export interface Finding {
  check: PreflightCheck;
  /** The host the finding is about, when it is about one. */
  host?: string;
  /** `unchecked`: the check could not be made (nothing to compare against); it does not refuse. */
  outcome: 'ok' | 'refused' | 'unchecked';
  /** Says each number and where it came from. */
  message: string;
}

export interface PreflightReport {
  findings: Finding[];
}

/** The findings that forbid a run. */
export function refusals(report: PreflightReport): Finding[] {
  return report.findings.filter((f) => f.outcome === 'refused');
}

/** Load on the public backend, read at the balancer. */
export interface LoadReading {
  /**
   * Requests a second: the difference of two counters() reads, `sampledMs` apart; not measured (no wait) when nothing
   * says what one host carries.
   */
  requestsPerSecond?: number;
  sampledMs: number;
  /** Requests in flight plus queued, summed over the members, now. */
  concurrency: number;
  /** What the balancer lets one member serve at once (HAProxy maxconn), where every member has one. */
  perHostConcurrencyFromBalancer?: number;
}

/** The parts of `capacity:` the capacity check reads. */
export interface CapacitySettings {
  utilisation: number;
  perHost: { requestsPerSecond?: number | undefined; concurrency?: number | undefined };
}

interface Dimension {
  name: string;
  unit: string;
  /** Undefined: not measured, since there is nothing to compare it with. */
  load: number | undefined;
  loadSource: string;
  perHost: number | undefined;
  perHostSource: string;
  unsetHint: string;
}

/**
 * For each cluster a push drains, whether the other can carry all the load at no more than
 * `utilisation` of what its hosts serve. A dimension whose per-host capacity is unknown is
 * `unchecked`, not refused: there is nothing to compare against.
 */
export function capacityFindings(
  load: LoadReading,
  hostCounts: Record<ClusterId, number>,
  capacity: CapacitySettings,
): Finding[] {
  return capacityDimensions(load, capacity).flatMap((d) => dimensionFindings(d, hostCounts, capacity.utilisation));
}

/** What capacity is checked on: the request rate and the requests at once, each with where its numbers come from. */
function capacityDimensions(load: LoadReading, capacity: CapacitySettings): Dimension[] {
  const fromConfig = capacity.perHost.concurrency;
  return [
    {
      name: 'request rate',
      unit: 'req/s',
      load: load.requestsPerSecond,
      loadSource: `measured at the balancer over ${formatSeconds(load.sampledMs)}`,
      perHost: capacity.perHost.requestsPerSecond,
      perHostSource: 'capacity.perHost.requestsPerSecond, baton.yml',
      unsetHint:
        'set capacity.perHost.requestsPerSecond in baton.yml to what one app host serves at 100% (from a load test)',
    },
    {
      name: 'concurrency',
      unit: 'requests at once',
      load: load.concurrency,
      loadSource: 'in flight and queued at the balancer now',
      perHost: fromConfig ?? load.perHostConcurrencyFromBalancer,
      perHostSource:
        fromConfig !== undefined
          ? 'capacity.perHost.concurrency, baton.yml'
          : 'maxconn of the members, at the balancer',
      unsetHint: "set capacity.perHost.concurrency in baton.yml (or maxconn on the balancer's members)",
    },
  ];
}

/** One dimension: unchecked when either side is unknown, else one finding per cluster drained. */
function dimensionFindings(d: Dimension, hostCounts: Record<ClusterId, number>, utilisation: number): Finding[] {
  if (d.perHost === undefined || d.load === undefined) {
    const measured = d.load === undefined ? 'not measured' : `${formatNumber(d.load)} ${d.unit}, ${d.loadSource}`;
    return [
      {
        check: 'capacity',
        outcome: 'unchecked',
        message: `${d.name} not checked (${measured}): nothing says what one host carries; ${d.unsetHint}`,
      },
    ];
  }
  const { load, perHost: oneHost } = d;
  const limit = `the limit is ${percent(utilisation)} (capacity.utilisation)`;
  return (
    [
      ['a', 'b'],
      ['b', 'a'],
    ] as const
  ).map(([drained, serving]): Finding => {
    const hosts = hostCounts[serving];
    const head =
      `while cluster ${drained} is drained, cluster ${serving} (${hosts} host${hosts === 1 ? '' : 's'}) ` +
      `would carry ${formatNumber(load)} ${d.unit} (${d.loadSource})`;
    if (hosts === 0) return { check: 'capacity', outcome: 'refused', message: `${head}, and it has no hosts` };
    const perHost = load / hosts;
    const share = perHost / oneHost;
    return {
      check: 'capacity',
      outcome: share <= utilisation ? 'ok' : 'refused',
      message:
        `${head}: ${formatNumber(perHost)} a host, ${percent(share)}` +
        ` of the ${formatNumber(oneHost)} ${d.unit} one host carries (${d.perHostSource}); ${limit}`,
    };
  });
}

/** What was read on one host about the web server's or app's memory. */
export interface HostMemoryReading {
  host: string;
  pidFile: string;
  /** Why the processes could not be measured (pid file missing, process not running); absent when they were. */
  notMeasured?: string;
  /** Resident size of the largest process in the pid's tree. */
  rssBytesPerProcess?: number;
  /** Processes in the tree now. */
  processes?: number;
  /** The memory the processes may use: the host's, or their cgroup's limit when lower. */
  memLimitBytes: number;
  memLimitSource: 'MemTotal' | 'cgroup memory.max';
}

/** Whether `processLimit` processes the size of the largest running one fit each host's memory. */
export function memoryFindings(readings: readonly HostMemoryReading[], processLimit: number): Finding[] {
  return readings.map((r): Finding => {
    const limit =
      `${formatMiB(r.memLimitBytes)} ` +
      `(${r.memLimitSource === 'MemTotal' ? 'MemTotal, /proc/meminfo' : 'memory.max of its cgroup'})`;
    if (r.notMeasured !== undefined || r.rssBytesPerProcess === undefined) {
      return {
        check: 'memory',
        host: r.host,
        outcome: 'unchecked',
        message:
          `${r.host}: memory not checked: ${r.notMeasured ?? 'no process measured'} (pid file ${r.pidFile}); ` +
          `the host has ${limit}`,
      };
    }
    const needed = processLimit * r.rssBytesPerProcess;
    const sum =
      `${processLimit} processes (capacity.memory.processLimit, baton.yml) ` +
      `× ${formatMiB(r.rssBytesPerProcess)} resident (the largest of the ${r.processes ?? '?'} running from ` +
      `pid file ${r.pidFile}, /proc) = ${formatMiB(needed)}`;
    return needed <= r.memLimitBytes
      ? { check: 'memory', host: r.host, outcome: 'ok', message: `${r.host}: ${sum}, within ${limit}` }
      : {
          check: 'memory',
          host: r.host,
          outcome: 'refused',
          message: `${r.host}: ${sum}, more than the ${limit} the host has`,
        };
  });
}

/** Free space at app.path on one host. */
export interface HostDiskReading {
  host: string;
  /** The directory df was asked about (app.path, or its nearest existing parent). */
  path: string;
  availableBytes: number;
}

/** How much room a new release takes on a host, and where that figure comes from. */
export interface ReleaseSize {
  /** The release unpacked. */
  bytes: number;
  /** Where `bytes` comes from ("git ls-tree of v1.2.0", "the artifact's file list"). */
  source: string;
  /** A built artifact's own bytes, kept on each host beside the release unpacked from it. */
  artifactBytes?: number;
}

/**
 * Whether each host has `diskFactor` × the new release's unpacked size free, plus the artifact itself when one is
 * deployed.
 */
export function diskFindings(
  readings: readonly HostDiskReading[],
  release: ReleaseSize,
  diskFactor: number,
): Finding[] {
  const artifact = release.artifactBytes ?? 0;
  const needed = diskFactor * release.bytes + artifact;
  const want =
    `${diskFactor} × ${formatMiB(release.bytes)} (the release unpacked, ${release.source}; ` +
    `capacity.diskFactor)` +
    `${release.artifactBytes !== undefined ? ` + ${formatMiB(artifact)} (the artifact, kept beside it)` : ''}` +
    ` = ${formatMiB(needed)}`;
  return readings.map((r): Finding => {
    const free = `${formatMiB(r.availableBytes)} free at ${r.path} (df)`;
    return r.availableBytes >= needed
      ? { check: 'disk', host: r.host, outcome: 'ok', message: `${r.host}: ${free}, needs ${want}` }
      : {
          check: 'disk',
          host: r.host,
          outcome: 'refused',
          message: `${r.host}: ${free}, less than the ${want} a new release needs`,
        };
  });
}

/** Bytes as MiB, as every message here gives them. */
export function formatMiB(bytes: number): string {
  // A tiny release would read "0 MiB", which says nothing.
  if (bytes > 0 && bytes < 0.01 * 2 ** 20) return `${bytes} bytes`;
  return `${formatNumber(bytes / 2 ** 20)} MiB`;
}

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

function formatSeconds(ms: number): string {
  return `${formatNumber(ms / 1000)} s`;
}

/** Whole numbers as they are, others to one decimal (small ones to two), so a refusal's sums can be followed. */
function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) < 10 ? n.toFixed(2).replace(/0$/, '') : n.toFixed(1).replace(/\.0$/, '');
}
