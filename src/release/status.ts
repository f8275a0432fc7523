// What production looks like now, for `baton status`: which cluster(s) serve, what each host
// runs, sessions and health per member, the lock, and the last run (with any step it left
// pending). Read-only, and a host that does not answer is reported, not fatal.
import { matchMembers, type Membership } from '../balancers/membership.js';
import type { Member, MemberState } from '../balancers/types.js';
import { allHosts, type ClusterId } from '../config/config.js';
import type { LockDetails } from '../engine/lock.js';
import type { Session } from '../engine/session.js';
import { ExternalCommandError } from '../errors.js';
import { appPaths, readCurrent } from '../steps/host-commands.js';
import { listRuns, type RunRecord } from './history.js';
import { readLock } from './lock-commands.js';

export interface HostStatus {
  host: string;
  cluster: ClusterId;
  member?: string;
  state?: MemberState;
  /** The balancer's health checks, when it has them. */
  healthy?: boolean;
  sessions?: number;
  release: string | null;
  /** Why the host or its member could not be read. */
  error?: string;
}

export interface ClusterStatus {
  id: ClusterId;
  internal: string;
  /** Members of this cluster taking public traffic. */
  inPool: string[];
  /** Serving when every member is in the pool, partly when some are. */
  serving: 'all' | 'partly' | 'no';
  /** Releases its hosts run (more than one: mixed). */
  releases: string[];
}

export interface StatusReport {
  app: string;
  balancer: { driver: string; host: string; backend: string };
  clusters: ClusterStatus[];
  hosts: HostStatus[];
  lock: (LockDetails & { expired: boolean }) | null;
  /** The newest run (rehearsals too: one killed midway leaves a cluster drained), and whether it is still running (its lock is held and live). */
  lastRun?: RunRecord & { running: boolean };
  problems: string[];
}

export async function gatherStatus(session: Session, now = new Date()): Promise<StatusReport> {
  const { config } = session;
  const problems: string[] = [];
  const fail = (what: string) => (err: unknown) => {
    problems.push(`${what}: ${reason(err)}`);
    return undefined;
  };
  const paths = appPaths(config.app.path);
  const hosts = allHosts(config);
  const [members, releases, lock] = await Promise.all([
    session.balancer.members().catch(fail(`balancer ${config.balancer.host}`)),
    Promise.all(
      hosts.map((h) =>
        session.transports
          .get(h.host)
          .run(readCurrent(paths))
          .then((r) => ({ release: r.stdout.trim() || null }), (err: unknown) => ({ release: null, error: reason(err) })),
      ),
    ),
    readLock(session, now).catch(fail('lock')),
  ]);
  const membership: Membership | undefined = members
    ? await matchMembers(config.clusters, members, { backend: config.balancer.backend, resolve: config.resolve, lookup: session.addressOf }).catch(fail('membership'))
    : undefined;

  const byName = new Map((members ?? []).map((m): [string, Member] => [m.name, m]));
  const hostStatus: HostStatus[] = hosts.map((h, i) => {
    const r = releases[i] as { release: string | null; error?: string };
    const name = membership?.[h.cluster].find((m) => m.host === h.host)?.member ?? h.member;
    const m = name ? byName.get(name) : undefined;
    return {
      host: h.host,
      cluster: h.cluster,
      ...(name ? { member: name } : {}),
      ...(m ? { state: m.state, sessions: m.sessions, ...(m.healthy !== undefined ? { healthy: m.healthy } : {}) } : {}),
      release: r.release,
      ...(r.error ? { error: r.error } : {}),
    };
  });
  for (const h of hostStatus) if (h.error) problems.push(`${h.host}: ${h.error}`);

  const clusters: ClusterStatus[] = (['a', 'b'] as const).map((id) => {
    const of = hostStatus.filter((h) => h.cluster === id);
    const inPool = of.filter((h) => h.state === 'ready').map((h) => h.member as string);
    return {
      id,
      internal: config.clusters[id].internal,
      inPool,
      serving: inPool.length === 0 ? 'no' : inPool.length === of.length ? 'all' : 'partly',
      releases: [...new Set(of.map((h) => h.release ?? '(none)'))],
    };
  });

  const last = listRuns(config.dir, { limit: 1 })[0];
  const running = Boolean(last && last.outcome === 'unfinished' && lock && !lock.expired && lock.run === last.run);
  return {
    app: config.app.name,
    balancer: { driver: config.balancer.driver, host: config.balancer.host, backend: config.balancer.backend },
    clusters,
    hosts: hostStatus,
    lock: lock ?? null,
    ...(last ? { lastRun: { ...last, running } } : {}),
    problems,
  };
}

/** What went wrong, in a line or two: for a failed command, what it said rather than the whole argv. */
function reason(err: unknown): string {
  if (err instanceof ExternalCommandError) return err.stderrTail || `exited ${err.code ?? 'by signal'}`;
  return err instanceof Error ? err.message : String(err);
}
