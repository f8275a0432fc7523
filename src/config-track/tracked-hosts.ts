// Which hosts a snapshot covers and which of their paths it tracks: app hosts track the `app`
// paths and the deploy root's `current` link (the release pointer), balancers the `balancer` ones.
import { posix } from 'node:path';
import { allHosts, type Config } from '../config/config.js';
import { UserError } from '../errors.js';

export type TrackRole = 'app' | 'balancer';

export interface TrackedHost {
  host: string;
  roles: TrackRole[];
  /** Absolute paths, no duplicates, in the order written. */
  paths: string[];
}

export function trackConfig(config: Config): NonNullable<Config['track']> {
  if (!config.track)
    throw new UserError(
      `${config.file} has no track: section`,
      'add `track: {repo: ./host-config, app: [...], balancer: ' +
        '[...]}` to baton.yml (`baton schema --markdown` prints the reference, docs/configuration.md)',
    );
  return config.track;
}

/**
 * Every tracked host (app hosts, then the balancer and its peers), or those named; an unknown name is a usage error.
 */
export function trackedHosts(config: Config, only: readonly string[] = []): TrackedHost[] {
  const track = trackConfig(config);
  const byHost = new Map<string, TrackedHost>();
  const add = (host: string, role: TrackRole, paths: readonly string[]) => {
    const h = byHost.get(host) ?? { host, roles: [], paths: [] };
    if (!h.roles.includes(role)) h.roles.push(role);
    for (const p of paths) if (!h.paths.includes(p)) h.paths.push(p);
    byHost.set(host, h);
  };
  const appPaths = [posix.join(config.app.path, 'current'), ...track.app];
  for (const h of allHosts(config)) add(h.host, 'app', appPaths);
  const balancers = [config.balancer.host, ...(config.balancer.peers ?? [])];
  for (const b of balancers) add(b, 'balancer', track.balancer);
  if (only.length === 0) return [...byHost.values()];
  const lower = new Map([...byHost.keys()].map((h) => [h.toLowerCase(), h]));
  return only.map((name) => {
    const host = lower.get(name.toLowerCase());
    if (!host)
      throw new UserError(
        `${JSON.stringify(name)} is not a host in ${config.file}`,
        `tracked hosts: ${[...byHost.keys()].join(', ')}`,
      );
    return byHost.get(host) as TrackedHost;
  });
}
