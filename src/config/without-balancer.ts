// A pair of balancers that lost one: `--without-balancer HOST` leaves it out for one command, so
// rollback, resume, status and unlock work through the survivor, which then holds the release
// lock and the run record (every peer keeps a whole copy of the record for this moment).
import { UserError } from '../errors.js';
import type { Config } from './config.js';

export interface WithoutBalancer {
  config: Config;
  /** What was left out and who stands in, for the journal and the output. */
  note: string;
}

/** The config with `host` taken out of balancer.host / balancer.peers; the first survivor becomes balancer.host. */
export function withoutBalancer(config: Config, host: string, by: string): WithoutBalancer {
  const hosts = [config.balancer.host, ...(config.balancer.peers ?? [])];
  if (!hosts.includes(host))
    throw new UserError(
      `--without-balancer ${host}: not one of the balancers (balancer.host and balancer.peers: ${hosts.join(', ')})`,
    );
  const [survivor, ...peers] = hosts.filter((h) => h !== host);
  if (!survivor)
    throw new UserError(
      `--without-balancer ${host}: it is the only balancer (balancer.peers names no other), ` +
        'so there is no survivor to work through',
    );
  const { peers: _, ...balancer } = config.balancer;
  return {
    config: {
      ...config,
      balancer: { ...balancer, host: survivor, ...(peers.length ? { peers } : {}) } as Config['balancer'],
    },
    note:
      `balancer ${host} left out by ${by} (--without-balancer): ${survivor}` +
      ` holds the release lock and the run record${peers.length ? `, with ${peers.join(', ')}` : ''}`,
  };
}
