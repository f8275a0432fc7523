// What production looks like now, for `baton status`: which cluster(s) serve, what each host
// runs, sessions and health per member, the lock, and the last run (with any step it left
// pending). Read-only. Each part is read on its own: one that cannot be read is reported as
// unknown with the reason, never as a value it was not (an unread pool is not an empty one).
import { BalancerSet, describeDisagreement, mergeMembers } from '../balancers/balancer-set.js';
import { matchMembers, type Membership } from '../balancers/membership.js';
import type { Member, MemberState } from '../balancers/types.js';
import { allHosts, type ClusterId, type Config, type HostRef } from '../config/config.js';
import type { RunsOf } from '../engine/journal.js';
import type { LockDetails, LockReading } from '../engine/lock.js';
import type { Session } from '../engine/session.js';
import { ExitCode, ExternalCommandError, type ExitCodeValue } from '../errors.js';
import { appPaths, readCurrent } from '../model/host-commands.js';
import { listRuns, type RunRecord } from './history.js';
import { lockLiveness, type Liveness } from './liveness.js';

export interface HostStatus {
  host: string;
  cluster: ClusterId;
  member?: string;
  /** Absent when the pool could not be read. */
  state?: MemberState;
  /** The balancer's health checks, when it has them. */
  healthy?: boolean;
  sessions?: number;
  /** With balancer.peers: its member's state on each balancer that could be read, by balancer host. */
  balancers?: Record<string, MemberState>;
  /** The release it runs, null for none; absent when it could not be read (`error` says why). */
  release?: string | null;
  error?: string;
}

export interface ClusterStatus {
  id: ClusterId;
  internal: string;
  /** Members of this cluster taking public traffic; absent when the pool could not be read. */
  inPool?: string[];
  /** Serving when every member is in the pool, partly when some are; unknown when not every member's state was read. */
  serving: 'all' | 'partly' | 'no' | 'unknown';
  /** Releases its hosts run (more than one: mixed). */
  releases: string[];
}

export type LockStatus =
  { state: 'free' } | ({ state: 'held'; expired: boolean; liveness: Liveness } & LockDetails) | { state: 'unknown' };

/** A part of production status could not read, and why. */
export interface Unread {
  part: 'balancer' | 'peer' | 'membership' | 'host' | 'lock' | 'journal';
  what: string;
  reason: string;
}

export interface StatusReport {
  app: string;
  /** `-e NAME`; absent: baton.yml alone. */
  environment?: string;
  balancer: { driver: string; host: string; backend: string; peers?: string[] };
  /**
   * With balancer.peers: the members whose state differs between balancers, as `name: state on host, …`; empty when
   * they agree.
   */
  divergent?: string[];
  clusters: ClusterStatus[];
  hosts: HostStatus[];
  lock: LockStatus;
  /**
   * The newest run (rehearsals too: one killed midway leaves a cluster drained), and whether it
   * is still running: it holds the lock and its heartbeat is recent; null when that is unknown.
   */
  lastRun?: RunRecord & { running: boolean | null };
  /** Every part that could not be read; empty when everything reported was read. */
  unread: Unread[];
}

export interface StatusOptions {
  /** All reads together get this long (default: the SSH connect timeout plus 10 s). */
  budgetMs?: number;
}

export async function gatherStatus(
  session: Session,
  now = new Date(),
  opts: StatusOptions = {},
): Promise<StatusReport> {
  const { config } = session;
  const deadline = Date.now() + (opts.budgetMs ?? config.ssh.connectTimeout + 10_000);
  const read = <T>(p: () => Promise<T>) => settle(deadline, p);
  const paths = appPaths(config.app.path);
  const hosts = allHosts(config);
  const balancer = session.balancer;
  // With peers, each balancer is read on its own: a disagreement is shown, not an error, and a peer that does not
  // answer leaves the others readable.
  const balancers = balancer instanceof BalancerSet ? [balancer.primary, ...balancer.peers] : [];
  const [members, releases, lockRead, peerReads] = await Promise.all([
    balancer instanceof BalancerSet ? read(() => balancer.primary.balancer.members()) : read(() => balancer.members()),
    Promise.all(
      hosts.map((h) =>
        read(async () => (await session.transports.get(h.host).run(readCurrent(paths))).stdout.trim() || null),
      ),
    ),
    read(() => session.lock.inspect()),
    Promise.all(balancers.slice(1).map((b) => read(() => b.balancer.members()))),
  ]);
  const pool = poolReading(balancers, members, peerReads);
  const { merged } = pool;
  const membership: Read<Membership> | undefined =
    'value' in merged
      ? await read(() =>
          matchMembers(config.clusters, merged.value, {
            backend: config.balancer.backend,
            resolve: config.resolve,
            lookup: session.addressOf,
          }),
        )
      : undefined;

  const peers = balancers.slice(1);
  const unread = unreadParts(config, { members, peers, peerReads, membership, hosts, releases, lockRead });
  const last = readLastRun(config, unread);
  const hostStatus = hostStatuses(hosts, releases, pool, membership);
  const clusters = (['a', 'b'] as const).map((id) => clusterStatus(config, id, hostStatus, 'value' in merged));
  const lock = lockStatus(lockRead, now);
  return {
    app: config.app.name,
    ...(config.environment !== undefined && { environment: config.environment }),
    balancer: balancerOf(config),
    ...(pool.divergent ? { divergent: pool.divergent } : {}),
    clusters,
    hosts: hostStatus,
    lock,
    ...(last
      ? { lastRun: { ...last, running: last.outcome === 'unfinished' ? isRunning(last.run, lock) : false } }
      : {}),
    unread,
  };
}

type BalancerRead = { host: string; members: Member[] };

/**
 * The pool as the balancers read it: each one that answered, where they disagree, and the members merged into one view.
 */
interface PoolReading {
  eachRead: BalancerRead[];
  divergent?: string[];
  merged: Read<Member[]>;
}

/** `balancers` is empty without peers; else the primary (whose read is `members`) and then each peer. */
function poolReading(
  balancers: readonly { host: string }[],
  members: Read<Member[]>,
  peerReads: readonly Read<Member[]>[],
): PoolReading {
  const eachRead = balancers.flatMap((b, i) => {
    const r = i === 0 ? members : (peerReads[i - 1] as Read<Member[]>);
    return 'value' in r ? [{ host: b.host, members: r.value }] : [];
  });
  const divergent = balancers.length > 0 ? describeDisagreement(eachRead) : undefined;
  const merged: Read<Member[]> =
    'value' in members && balancers.length > 0 ? { value: mergeMembers(eachRead.map((r) => r.members)) } : members;
  return { eachRead, ...(divergent !== undefined ? { divergent } : {}), merged };
}

/** Every read that failed (but the journal's), in the order status lists them. */
function unreadParts(
  config: Config,
  reads: {
    members: Read<Member[]>;
    peers: readonly { host: string }[];
    peerReads: readonly Read<Member[]>[];
    membership: Read<Membership> | undefined;
    hosts: readonly HostRef[];
    releases: readonly Read<string | null>[];
    lockRead: Read<unknown>;
  },
): Unread[] {
  const unread: Unread[] = [];
  if ('error' in reads.members)
    unread.push({ part: 'balancer', what: `balancer ${config.balancer.host}`, reason: reads.members.error });
  reads.peers.forEach((b, i) => {
    const r = reads.peerReads[i] as Read<Member[]>;
    if ('error' in r) unread.push({ part: 'peer', what: `balancer ${b.host}`, reason: r.error });
  });
  if (reads.membership && 'error' in reads.membership)
    unread.push({ part: 'membership', what: 'which member is which host', reason: reads.membership.error });
  reads.hosts.forEach((h, i) => {
    const r = reads.releases[i] as Read<string | null>;
    if ('error' in r) unread.push({ part: 'host', what: `release on ${h.host}`, reason: r.error });
  });
  if ('error' in reads.lockRead)
    unread.push({ part: 'lock', what: `lock on ${config.balancer.host}`, reason: reads.lockRead.error });
  return unread;
}

/** Each host: its member (as matched, else as configured), that member's state, and the release it runs. */
function hostStatuses(
  hosts: readonly HostRef[],
  releases: readonly Read<string | null>[],
  pool: PoolReading,
  membership: Read<Membership> | undefined,
): HostStatus[] {
  const byName = new Map(('value' in pool.merged ? pool.merged.value : []).map((m): [string, Member] => [m.name, m]));
  return hosts.map((h, i) => {
    const r = releases[i] as Read<string | null>;
    const name =
      (membership && 'value' in membership
        ? membership.value[h.cluster].find((m) => m.host === h.host)?.member
        : undefined) ?? h.member;
    const m = name ? byName.get(name) : undefined;
    return {
      host: h.host,
      cluster: h.cluster,
      ...(name ? { member: name } : {}),
      ...(m
        ? { state: m.state, sessions: m.sessions, ...(m.healthy !== undefined ? { healthy: m.healthy } : {}) }
        : {}),
      ...(name && pool.eachRead.length > 0 ? { balancers: statesOn(pool.eachRead, name) } : {}),
      ...('value' in r ? { release: r.value } : { error: r.error }),
    };
  });
}

/** `poolRead`: the members' states were read, so who is in the pool is known. */
function clusterStatus(
  config: Config,
  id: ClusterId,
  hostStatus: readonly HostStatus[],
  poolRead: boolean,
): ClusterStatus {
  const of = hostStatus.filter((h) => h.cluster === id);
  const inPool = of.filter((h) => h.state === 'ready').map((h) => h.member as string);
  return {
    id,
    internal: config.clusters[id].internal,
    ...(poolRead ? { inPool } : {}),
    serving: of.some((h) => h.state === undefined)
      ? 'unknown'
      : inPool.length === 0
        ? 'no'
        : inPool.length === of.length
          ? 'all'
          : 'partly',
    releases: [...new Set(of.map((h) => (h.release === undefined ? '(unknown)' : (h.release ?? '(none)'))))],
  };
}

function balancerOf(config: Config): StatusReport['balancer'] {
  return {
    driver: config.balancer.driver,
    host: config.balancer.host,
    backend: config.balancer.backend,
    ...(config.balancer.peers?.length ? { peers: [...config.balancer.peers] } : {}),
  };
}

/** A member's state on each balancer that has it. */
function statesOn(
  reads: readonly { host: string; members: readonly Member[] }[],
  name: string,
): Record<string, MemberState> {
  const out: Record<string, MemberState> = {};
  for (const r of reads) {
    const m = r.members.find((x) => x.name === name);
    if (m) out[r.host] = m.state;
  }
  return out;
}

function lockStatus(r: Read<LockReading>, now: Date): LockStatus {
  if ('error' in r) return { state: 'unknown' };
  const { details, hostNow } = r.value;
  if (!details) return { state: 'free' };
  return {
    state: 'held',
    ...details,
    expired: Date.parse(details.expires) <= now.getTime(),
    liveness: lockLiveness(details, hostNow, now),
  };
}

/**
 * A run whose journal did not end is still going only while it holds the lock and that lock
 * looks alive: the journal alone cannot tell a live run from a killed one. Null: the lock could
 * not be read, so nobody can tell.
 */
function isRunning(run: string, lock: LockStatus): boolean | null {
  if (lock.state === 'unknown') return null;
  return (
    lock.state === 'held' && lock.run === run && (lock.liveness.state === 'running' || lock.liveness.state === 'leased')
  );
}

/**
 * Status succeeds only when it read everything it reports; otherwise it failed, and (being read-only) changed nothing.
 */
export function statusExitCode(s: Pick<StatusReport, 'unread'>): ExitCodeValue {
  return s.unread.length === 0 ? ExitCode.OK : ExitCode.FAILED_RESTORED;
}

/** The journal is local: it still tells the last run when no host answers. */
function readLastRun(configDir: RunsOf, unread: Unread[]): RunRecord | undefined {
  try {
    return listRuns(configDir, { limit: 1 })[0];
  } catch (err) {
    unread.push({ part: 'journal', what: 'the journal', reason: reason(err) });
    return undefined;
  }
}

type Read<T> = { value: T } | { error: string };

/**
 * One read, its failure kept as a reason; every read gets the same deadline, so status answers in bounded time whatever
 * hangs.
 */
async function settle<T>(deadline: number, read: () => Promise<T>): Promise<Read<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${Math.round((deadline - Date.now()) / 1000)} s`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return { value: await Promise.race([read(), late]) };
  } catch (err) {
    return { error: reason(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** What went wrong, in a line or two: for a failed command, what it said rather than the whole argv. */
function reason(err: unknown): string {
  if (err instanceof ExternalCommandError) return err.stderrTail || `exited ${err.code ?? 'by signal'}`;
  return err instanceof Error ? err.message : String(err);
}
