// Observe the live state a plan is made from and apply re-checks: which member each host is,
// its state in the pool, and the release `current` points at on each host.
import type { Balancer, Member } from '../balancers/types.js';
import { matchMembers, type Membership } from '../balancers/membership.js';
import { allHosts, type Config } from '../config/config.js';
import type { ObservedHost, ObservedState } from '../model/plan.js';
import { appPaths, readCurrent } from '../model/host-commands.js';
import { forEachHost } from '../transport/fan-out.js';
import type { Transports } from '../transport/types.js';

export interface Observation {
  observed: ObservedState;
  membership: Membership;
}

export async function observe(
  config: Config,
  balancer: Balancer,
  transports: Transports,
  /** Where a configured host name points (ssh_config HostName): how hosts are matched to members by address. */
  addressOf: (host: string) => Promise<string[]>,
): Promise<Observation> {
  // The balancer and every host at once: this also opens the connections the push reuses.
  // With balancer.peers, members() fails while the balancers disagree: nothing has changed yet.
  const [members, releases] = await Promise.all([
    balancer.members(),
    readReleases(config, transports),
    checkStickTable(config, balancer),
  ]);
  return assemble(config, members, releases, addressOf);
}

/**
 * With balancer.sessions on a stick table, read it once now: a table the balancer does not have
 * must stop the push before its first drain, not at the wait after it.
 */
async function checkStickTable(config: Config, balancer: Balancer): Promise<void> {
  const sessions = config.balancer.driver === 'haproxy' ? config.balancer.sessions : undefined;
  if (sessions?.track !== 'table' || !balancer.stickySessions) return;
  await balancer.stickySessions([], sessions.table ?? config.balancer.backend);
}

/** The release `current` points at on every configured host. */
export function readReleases(config: Config, transports: Transports): Promise<Map<string, string | null>> {
  const paths = appPaths(config.app.path);
  return forEachHost(
    allHosts(config).map((h) => h.host),
    config.ssh.concurrency,
    async (host) => (await transports.get(host).run(readCurrent(paths))).stdout.trim() || null,
  );
}

/** The observation from the balancer's members and the hosts' releases (read, or known from a journal). */
export async function assemble(
  config: Config,
  members: Member[],
  releases: ReadonlyMap<string, string | null>,
  addressOf: (host: string) => Promise<string[]>,
): Promise<Observation> {
  const membership = await matchMembers(config.clusters, members, {
    backend: config.balancer.backend,
    resolve: config.resolve,
    lookup: addressOf,
  });
  const byName = new Map(members.map((m) => [m.name, m]));
  const matches = [
    ...membership.a.map((m) => ({ ...m, cluster: 'a' as const })),
    ...membership.b.map((m) => ({ ...m, cluster: 'b' as const })),
  ];
  const hosts: ObservedHost[] = matches.map((m) => ({
    host: m.host,
    cluster: m.cluster,
    member: m.member,
    address: m.address,
    memberState: byName.get(m.member)?.state ?? 'down',
    release: releases.get(m.host) ?? null,
  }));
  return {
    observed: {
      observedAt: new Date().toISOString(),
      balancer: { driver: config.balancer.driver, host: config.balancer.host, backend: config.balancer.backend },
      hosts,
    },
    membership,
  };
}

/** What differs between the state a plan was made from and the state now, member by member and host by host. */
export function describeDrift(planned: ObservedState, now: ObservedState): string[] {
  const out: string[] = [];
  const nowBy = new Map(now.hosts.map((h) => [h.host, h]));
  for (const p of planned.hosts) {
    const n = nowBy.get(p.host);
    if (!n) {
      out.push(`${p.host}: in the plan, no longer configured`);
      continue;
    }
    if (n.member !== p.member) out.push(`${p.host}: balancer member was ${p.member}, is now ${n.member}`);
    if (n.memberState !== p.memberState)
      out.push(`${p.member}: was ${p.memberState} in the pool, is now ${n.memberState}`);
    if (n.release !== p.release)
      out.push(`${p.host}: ran ${p.release ?? 'nothing'}, runs ${n.release ?? 'nothing'} now`);
  }
  for (const n of now.hosts)
    if (!planned.hosts.some((p) => p.host === n.host)) out.push(`${n.host}: configured now, not in the plan`);
  return out;
}
