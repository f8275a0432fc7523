// The one place a driver is chosen: steps get a Balancer and never know which one it is.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from '../config/config.js';
import { Secrets } from '../config/secrets.js';
import { UserError } from '../errors.js';
import type { Transport, Transports } from '../transport/types.js';
import { ApacheBalancer } from './apache.js';
import { balancerOrSet } from './balancer-set.js';
import { HaproxyBalancer } from './haproxy.js';
import { NginxBalancer } from './nginx.js';
import { NginxLuaBalancer } from './nginx-lua.js';
import type { Balancer, Member } from './types.js';

/** The app hosts' transports, for drivers that read drain state on the hosts themselves (nginx). */
export type AppTransports = Pick<Transports, 'get'> & { resolve?: (host: string) => Promise<{ hostName: string }> };

/**
 * The balancer driver of `config.balancer`, talking to its host through `transport`; `secrets`
 * holds its credentials. With `balancer.peers`, a BalancerSet over it and one driver per peer,
 * each reached through `hosts` (the same SSH transports as the primary's); without, the driver itself.
 */
export function createBalancer(
  config: Pick<Config, 'balancer'> & Partial<Pick<Config, 'clusters' | 'resolve' | 'ssh'>>,
  transport: Transport,
  hosts?: AppTransports,
  secrets: Secrets = new Secrets(),
): Balancer {
  const peers = config.balancer.peers ?? [];
  const primary = { host: config.balancer.host, balancer: createDriver(config, transport, hosts, secrets) };
  if (peers.length === 0) return primary.balancer;
  if (!hosts) throw new Error('balancer.peers needs the transports to reach the peers');
  return balancerOrSet(
    primary,
    peers.map((host) => ({ host, balancer: createDriver(config, hosts.get(host), hosts, secrets) })),
  );
}

function createDriver(
  config: Pick<Config, 'balancer'> & Partial<Pick<Config, 'clusters' | 'resolve' | 'ssh'>>,
  transport: Transport,
  hosts: AppTransports | undefined,
  secrets: Secrets,
): Balancer {
  const b = config.balancer;
  const sudo = config.ssh?.sudo.balancer ?? true;
  switch (b.driver) {
    case 'haproxy':
      return new HaproxyBalancer(transport, {
        backend: b.backend,
        socket: b.socket,
        sudo,
        ...(b.serverStateFile !== undefined ? { serverStateFile: b.serverStateFile } : {}),
      });
    case 'apache':
      return new ApacheBalancer(transport, {
        balancer: b.backend,
        managerUrl: b.managerUrl,
        ...(b.managerAuth && {
          managerAuth: { user: b.managerAuth.user, password: secrets.value(b.managerAuth.password) },
        }),
        configFile: b.configFile,
        ctl: b.ctl,
        sudo,
        errorLog: b.errorLog,
        ...(b.accessLog !== undefined ? { accessLog: b.accessLog } : {}),
      });
    case 'nginx': {
      if (!hosts || !config.clusters)
        throw new Error(
          "the nginx driver needs the clusters and the app hosts' transports to read drain state on the hosts",
        );
      const appTransport = appTransportOf(config.clusters, config.resolve ?? {}, hosts);
      if (b.mode === 'lua') {
        return new NginxLuaBalancer(transport, {
          upstream: b.backend,
          ...(b.controlUrl !== undefined ? { controlUrl: b.controlUrl } : {}),
          ...(b.stateFile !== undefined ? { stateFile: b.stateFile } : {}),
          nginx: b.nginx,
          sudo,
          errorLog: b.errorLog,
          ...(b.statusUrl !== undefined ? { statusUrl: b.statusUrl } : {}),
          ...(b.accessLog !== undefined ? { accessLog: b.accessLog } : {}),
          appTransport,
        });
      }
      // The config checks require upstreamFile in mode: file.
      if (b.upstreamFile === undefined)
        throw new UserError(
          'balancer.upstreamFile is missing: mode: file edits it',
          'set balancer.upstreamFile, or mode: lua',
        );
      return new NginxBalancer(transport, {
        upstream: b.backend,
        upstreamFile: b.upstreamFile,
        nginx: b.nginx,
        sudo,
        pidFile: b.pidFile,
        errorLog: b.errorLog,
        ...(b.statusUrl !== undefined ? { statusUrl: b.statusUrl } : {}),
        ...(b.accessLog !== undefined ? { accessLog: b.accessLog } : {}),
        appTransport,
      });
    }
  }
}

/**
 * The configured host behind a member: the host that names it with `member:`, else the one
 * whose address is the member's (pins under `resolve:`, ssh_config HostName, then DNS).
 */
function appTransportOf(
  clusters: Config['clusters'],
  pins: Record<string, string>,
  hosts: AppTransports,
): (m: Member) => Promise<Transport> {
  const refs = [...clusters.a.hosts, ...clusters.b.hosts];
  const addresses = new Map<string, Promise<string[]>>();
  const addressesOf = (host: string): Promise<string[]> => {
    let p = addresses.get(host);
    if (!p) {
      p = (async () => {
        if (pins[host]) return [pins[host] as string];
        const name = hosts.resolve ? (await hosts.resolve(host)).hostName : host;
        if (isIP(name)) return [name];
        return (await lookup(name, { all: true })).map((a) => a.address);
      })();
      addresses.set(host, p);
    }
    return p;
  };
  return async (m) => {
    const named = refs.find((r) => r.member === m.name);
    if (named) return hosts.get(named.host);
    for (const r of refs) {
      if (r.member === undefined && (r.host === m.address || (await addressesOf(r.host)).includes(m.address)))
        return hosts.get(r.host);
    }
    throw new UserError(
      `no host of clusters.a or clusters.b is member ${m.name} (${m.address})`,
      'every member of the upstream must be a configured host',
    );
  };
}

export type { Balancer, BackendCounters, DrainProgress, Member, MemberState, TrafficRead, Weighing } from './types.js';
export { ApacheBalancer } from './apache.js';
export { BalancerSet, BalancersDisagreeError, type NamedBalancer } from './balancer-set.js';
export { HaproxyBalancer } from './haproxy.js';
export { NginxBalancer } from './nginx.js';
export { NginxLuaBalancer } from './nginx-lua.js';
export { matchMembers, type MemberMatch, type Membership } from './membership.js';
export { waitForDrain, type DrainResult, type WaitForDrainOptions } from './drain.js';
