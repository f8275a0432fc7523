// Smoke checks of one cluster: every check through the cluster's internal hostname and
// against every host of it directly, all at once, each retried until one shared deadline.
import type { ClusterConfig, Config, SmokeCheckConfig } from '../config/config.js';
import { Secrets } from '../config/secrets.js';
import type { Backoff, Clock } from './backoff.js';
import { systemClock } from './backoff.js';
import { type CheckResult, type CheckTarget, describeFailure, type HttpCheck, runHttpCheck } from './http.js';

export interface SmokeReport {
  ok: boolean;
  results: CheckResult[];
}

/** A host to check directly, on the port its balancer member listens on (80 when unknown). */
export interface HostPort {
  host: string;
  port?: number;
}

/** The base URL smoke checks reach a cluster through: `internal` as written, or `http://` + it. */
export function internalBaseUrl(cluster: Pick<ClusterConfig, 'internal'>): string {
  return /^https?:\/\//.test(cluster.internal) ? cluster.internal : `http://${cluster.internal}`;
}

/** The internal hostname first, then each host at its member's port. */
export function clusterTargets(cluster: Pick<ClusterConfig, 'internal'>, hosts: readonly HostPort[]): CheckTarget[] {
  const internal = internalBaseUrl(cluster);
  return [
    { name: cluster.internal, baseUrl: internal },
    ...hosts.map((h) => ({ name: h.host, baseUrl: `http://${h.host}:${h.port ?? 80}` })),
  ];
}

export interface SmokeOptions {
  deadlineMs: number;
  resolve?: Record<string, string>;
  clock?: Clock;
  backoff?: Backoff;
  /** Applied to answers before they go into results (Secrets.redact). */
  redact?: (text: string) => string;
}

/** A configured check as sent: each `{secret: NAME}` header value replaced by the secret, read up front. */
export function resolveCheck(check: SmokeCheckConfig, secrets: Secrets): HttpCheck {
  const { requestHeaders, ...rest } = check;
  if (!requestHeaders) return rest;
  return {
    ...rest,
    requestHeaders: Object.fromEntries(
      Object.entries(requestHeaders).map(([name, v]) => [name, typeof v === 'string' ? v : secrets.value(v)]),
    ),
  };
}

/** Every check against every target; ok only when all pass. */
export async function runSmoke(
  checks: readonly HttpCheck[],
  targets: readonly CheckTarget[],
  opts: SmokeOptions,
): Promise<SmokeReport> {
  const clock = opts.clock ?? systemClock;
  const deadline = clock.now() + opts.deadlineMs;
  const results = await Promise.all(
    targets.flatMap((t) =>
      checks.map((c) =>
        runHttpCheck(c, t, {
          deadline,
          clock,
          ...(opts.resolve ? { resolve: opts.resolve } : {}),
          ...(opts.backoff ? { backoff: opts.backoff } : {}),
          ...(opts.redact ? { redact: opts.redact } : {}),
        }),
      ),
    ),
  );
  return { ok: results.every((r) => r.ok), results };
}

/** The configured smoke checks of one cluster, its hosts given with their member ports. */
export function smokeCluster(
  config: Pick<Config, 'smoke' | 'resolve'> & { clusters: Record<string, Pick<ClusterConfig, 'internal'>> },
  cluster: string,
  hosts: readonly HostPort[],
  opts: { clock?: Clock; backoff?: Backoff; secrets?: Secrets } = {},
): Promise<SmokeReport> {
  const c = config.clusters[cluster];
  if (!c) throw new Error(`no cluster ${cluster}`);
  const { secrets = new Secrets(), ...rest } = opts;
  const checks = config.smoke.checks.map((check) => resolveCheck(check, secrets));
  return runSmoke(checks, clusterTargets(c, hosts), {
    deadlineMs: config.smoke.deadlineMs,
    resolve: config.resolve,
    redact: (t) => secrets.redact(t),
    ...rest,
  });
}

/** One line per failed check, for an error message; empty when all passed. */
export function smokeFailures(report: SmokeReport): string[] {
  return report.results.filter((r) => !r.ok).map(describeFailure);
}
