// Where and as whom to connect for a host named in baton.yml: baton.yml's ssh settings win
// (like ssh's command-line flags), then the ssh_config file (HostName, User, Port,
// IdentityFile, UserKnownHostsFile, HostKeyAlias), then OpenSSH's own defaults.
import { access, readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { UserError } from '../errors.js';
import type { Config } from '../config/config.js';

export type SshSettings = Pick<Config['ssh'], 'user' | 'port' | 'identity' | 'config' | 'keepalive' | 'connectTimeout'> & {
  knownHosts?: string;
};

/** Everything needed to dial one host. */
export interface SshTarget {
  /** The host as named in baton.yml. */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** Candidate private keys, in the order to try them. */
  identityFiles: string[];
  knownHostsFiles: string[];
  /** Names the host key may be recorded under in known_hosts. */
  knownHostNames: string[];
}

export interface SshEnv {
  home: string;
  localUser: string;
}

export function defaultSshEnv(): SshEnv {
  return { home: homedir(), localUser: userInfo().username };
}

/** Read the ssh_config to honour: the explicit one (must exist), else ~/.ssh/config if present. */
export async function loadSshConfig(explicit: string | undefined, env: SshEnv): Promise<SSHConfig | undefined> {
  const path = explicit ?? join(env.home, '.ssh', 'config');
  try {
    return SSHConfig.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if (explicit === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`cannot read ssh_config ${path}: ${(err as Error).message}`, 'fix ssh.config in baton.yml');
  }
}

/** Resolve a host alias against baton.yml's ssh settings and an ssh_config. */
export async function resolveSshTarget(
  alias: string,
  settings: SshSettings,
  sshConfig: SSHConfig | undefined,
  env: SshEnv = defaultSshEnv(),
): Promise<SshTarget> {
  // Match exec would run shell commands from the config file while merely resolving a name.
  const c = sshConfig?.compute(alias, { ignoreCase: true, matchExec: false }) ?? {};
  const one = (k: string): string | undefined => {
    const v = c[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const many = (k: string): string[] => {
    const v = c[k];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  const hostName = expandTokens(one('hostname') ?? alias, { h: alias }, env);
  const portText = one('port');
  const port = settings.port ?? (portText ? Number(portText) : 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`ssh_config gives host ${alias} port ${JSON.stringify(portText)}, which is not a port number`);
  }
  const user = settings.user ?? one('user') ?? env.localUser;
  const tokens = { h: hostName, r: user, p: String(port), n: alias };
  const path = (p: string): string => expandPath(expandTokens(p, tokens, env), env);

  const identityFiles = settings.identity
    ? [settings.identity]
    : many('identityfile').length > 0
      ? many('identityfile').map(path)
      : await existing(['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(env.home, '.ssh', f)));

  // baton.yml always carries a knownHosts (its default is ~/.ssh/known_hosts); only a value
  // other than that default is taken as "set", so an ssh_config UserKnownHostsFile still counts.
  const defaultKnownHosts = join(env.home, '.ssh', 'known_hosts');
  const fromConfig = many('userknownhostsfile').map(path).filter((f) => f !== '/dev/null');
  const knownHostsFiles =
    settings.knownHosts && settings.knownHosts !== defaultKnownHosts
      ? [settings.knownHosts]
      : fromConfig.length > 0
        ? fromConfig
        : [settings.knownHosts ?? defaultKnownHosts];

  const hostKeyAlias = one('hostkeyalias');
  const names = hostKeyAlias
    ? [hostKeyAlias]
    : [alias, port === 22 ? hostName : `[${hostName}]:${port}`, ...(port === 22 ? [] : [`[${alias}]:${port}`])];
  return { alias, hostName, port, user, identityFiles, knownHostsFiles, knownHostNames: [...new Set(names)] };
}

/** ssh_config %-tokens that make sense without a live connection. */
function expandTokens(s: string, tokens: Record<string, string>, env: SshEnv): string {
  return s.replace(/%(.)/g, (whole, t: string) => {
    if (t === '%') return '%';
    if (t === 'd') return env.home;
    if (t === 'u') return env.localUser;
    return tokens[t] ?? whole;
  });
}

function expandPath(p: string, env: SshEnv): string {
  return p === '~' || p.startsWith('~/') ? join(env.home, p.slice(1)) : p;
}

async function existing(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const p of paths) {
    try {
      await access(p);
      found.push(p);
    } catch {
      // absent: OpenSSH skips missing default identities too
    }
  }
  return found;
}
