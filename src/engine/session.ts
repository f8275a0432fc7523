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
 * The secrets a command reads: a run's (balancer and smoke checks), the balancer's alone (status), or none (lock,
 * unlock).
 */
export type SecretsNeeded = 'run' | 'balancer' | 'none';

export interface SessionOptions {
  secrets?: SecretsNeeded;
  /** Where `{env: NAME}` secrets are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Opens the session. Every secret the command needs is read first, so a missing one fails
 * (exit 64, naming the secret and the key that uses it) before anything connects or changes.
 */
export async function openSession(
  config: Config,
  transports?: Transports & { resolve?: (h: string) => Promise<{ hostName: string }> },
  opts: SessionOptions = {},
): Promise<Session> {
  const needed = opts.secrets ?? 'run';
  const { dns: _dns, ...release } = config;
  const uses =
    needed === 'none' ? [] : secretUses(release).filter((u) => needed === 'run' || u.key.startsWith('balancer.'));
  const secrets = await resolveSecrets(config, uses, opts.env);
  const t = transports ?? new SshTransports(config.ssh);
  const balancerTransport = t.get(config.balancer.host);
  let balancer: Balancer | undefined;
  return {
    config,
    transports: t,
    // Made when first used: a command that reads no secret (lock) never needs the driver's.
    // With balancer.peers, each peer's driver gets its transport from `t`, like balancer.host's.
    get balancer() {
      return (balancer ??= createBalancer(config, balancerTransport, t, secrets));
    },
    secrets,
    lock: new ReleaseLock(balancerTransport, config.lock.path, config.lock.lease, config.environment),
    addressOf: async (host) => {
      if (config.resolve[host]) return [config.resolve[host] as string];
      const name = 'resolve' in t && typeof t.resolve === 'function' ? (await t.resolve(host)).hostName : host;
      if (isIP(name)) return [name];
      return (await lookup(name, { all: true })).map((a) => a.address);
    },
    close: async () => {
      // The driver's channel first, so its command ends with its stdin rather than under a hang-up.
      await balancer?.close?.();
      await t.closeAll();
    },
  };
}
