// A session with production: the transports, the balancer driver, the secrets it needs and how
// host names map to addresses, opened once per command and closed at the end.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { createBalancer } from '../balancers/index.js';
import type { Balancer } from '../balancers/types.js';
import type { Config } from '../config/config.js';
import { resolveSecrets, secretUses, type Secrets } from '../config/secrets.js';
import { SshTransports } from '../transport/ssh.js';
import type { Transports } from '../transport/types.js';
import { ReleaseLock } from './lock.js';

export interface Session {
  config: Config;
  transports: Transports;
  balancer: Balancer;
  lock: ReleaseLock;
  /** The secrets of the balancer and the smoke checks, read when the session opened. */
  secrets: Secrets;
  /** Addresses a configured host name reaches (ssh_config HostName applied), to match balancer members. */
  addressOf(host: string): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Opens the session. Every secret it needs is read first, so a missing one fails (exit 64, naming
 * the secret and the key that uses it) before anything connects or changes.
 */
export async function openSession(
  config: Config,
  transports?: Transports & { resolve?: (h: string) => Promise<{ hostName: string }> },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Session> {
  const { dns: _dns, ...release } = config;
  const secrets = await resolveSecrets(config, secretUses(release), env);
  const t = transports ?? new SshTransports(config.ssh);
  const balancerTransport = t.get(config.balancer.host);
  return {
    config,
    transports: t,
    balancer: createBalancer(config, balancerTransport, t, secrets),
    secrets,
    lock: new ReleaseLock(balancerTransport, config.lock.path, config.lock.lease),
    addressOf: async (host) => {
      if (config.resolve[host]) return [config.resolve[host] as string];
      const name = 'resolve' in t && typeof t.resolve === 'function' ? (await t.resolve(host)).hostName : host;
      if (isIP(name)) return [name];
      return (await lookup(name, { all: true })).map((a) => a.address);
    },
    close: () => t.closeAll(),
  };
}
