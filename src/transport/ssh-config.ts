// Where and as whom to connect for a host named in baton.yml: baton.yml's ssh settings win
// (like ssh's command-line flags), then the ssh_config file (HostName, User, Port,
// IdentityFile, UserKnownHostsFile, HostKeyAlias, ProxyJump), then OpenSSH's own defaults.
import { access, readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { UserError } from '../errors.js';
import type { Config } from '../config/config.js';

export type SshSettings = Pick<
  Config['ssh'],
  'user' | 'port' | 'identity' | 'config' | 'keepalive' | 'connectTimeout' | 'proxy'
> & {
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
  /** The bastion this host is reached through (ssh.proxy or ProxyJump), resolved like any host. */
  via?: SshTarget;
}

/** One jump host as ProxyJump and ssh -J write it: `[ssh://][user@]host[:port]`. */
export interface JumpSpec {
  host: string;
  user?: string;
  port?: number;
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

/**
 * Resolve a host alias against baton.yml's ssh settings and an ssh_config, with the bastion it
 * is reached through. Like ssh -J, baton.yml's ssh.proxy wins over ProxyJump, and ssh.user and
 * ssh.port describe the hosts, not the bastion; ssh.identity and ssh.knownHosts serve both.
 */
export async function resolveSshTarget(
  alias: string,
  settings: SshSettings,
  sshConfig: SSHConfig | undefined,
  env: SshEnv = defaultSshEnv(),
): Promise<SshTarget> {
  const { target, proxy } = await resolveOne(alias, settings, sshConfig, env);
  const jump =
    settings.proxy !== undefined ? parseJump(settings.proxy, 'ssh.proxy in baton.yml') : proxy && proxyOf(alias, proxy);
  // The bastion itself is dialled directly (ssh would loop, reaching it through itself).
  if (jump === 'none' || jump === undefined || jump.host.toLowerCase() === alias.toLowerCase()) return target;

  const bastionSettings: SshSettings = {
    ...settings,
    user: jump.user,
    port: jump.port,
    identity: undefined,
    proxy: undefined,
  };
  const bastion = await resolveOne(jump.host, bastionSettings, sshConfig, env);
  const further = bastion.proxy && proxyOf(jump.host, bastion.proxy);
  if (further !== undefined && further !== 'none' && further.host.toLowerCase() !== jump.host.toLowerCase()) {
    throw new UserError(
      `host ${alias} is reached through the bastion ${jump.host}, ` +
        `which ssh_config reaches through ${further.host}: baton follows one jump host, not a chain`,
      `reach ${jump.host} directly (ProxyJump none under its Host entry), or set ssh.proxy to a bastion that is`,
    );
  }
  // The bastion's own IdentityFile first, then the key baton.yml names for every host.
  const identityFiles = [
    ...new Set([...bastion.target.identityFiles, ...(settings.identity ? [settings.identity] : [])]),
  ];
  return { ...target, via: { ...bastion.target, identityFiles } };
}

/** The first of ProxyJump / ProxyCommand ssh_config sets for a host (the first one wins, as in ssh). */
type ProxyDirective = { kind: 'jump'; value: string } | { kind: 'command'; value: string };

/** A directive as a jump host; ProxyCommand is refused rather than ignored (it would be dialled directly). */
function proxyOf(alias: string, proxy: ProxyDirective): JumpSpec | 'none' {
  if (proxy.kind === 'jump') return parseJump(proxy.value, `ssh_config ProxyJump for ${alias}`);
  if (proxy.value.trim().toLowerCase() === 'none') return 'none';
  throw new UserError(
    `ssh_config gives host ${alias} ProxyCommand ${JSON.stringify(proxy.value)}: baton does not run proxy commands`,
    'use ProxyJump (or ssh.proxy in baton.yml) for a bastion, or ProxyCommand none for this host',
  );
}

/** Parse one jump host, `[ssh://][user@]host[:port]` or `none`; a chain (a,b) is refused. */
export function parseJump(spec: string, where: string): JumpSpec | 'none' {
  const text = spec.trim();
  if (text.toLowerCase() === 'none') return 'none';
  if (text.includes(',')) {
    throw new UserError(
      `${where} is a chain of jump hosts (${text}): baton follows one jump host`,
      'name a single bastion, [user@]host[:port]',
    );
  }
  const m = /^(?:ssh:\/\/)?(?:([^@\s/]+)@)?(\[[^\]\s]+\]|[^@\s:/[\]]+)(?::(\d+))?\/?$/.exec(text);
  const port = m?.[3] === undefined ? undefined : Number(m[3]);
  if (!m || (port !== undefined && (port < 1 || port > 65535))) {
    throw new UserError(
      `${where} is ${JSON.stringify(text)}, which is not a jump host`,
      'write it as [user@]host[:port]',
    );
  }
  const host = m[2]!.replace(/^\[(.*)\]$/, '$1');
  return { host, ...(m[1] !== undefined && { user: m[1] }), ...(port !== undefined && { port }) };
}

/** One host's settings from baton.yml and ssh_config, and the proxy directive ssh_config gives it. */
async function resolveOne(
  alias: string,
  settings: SshSettings,
  sshConfig: SSHConfig | undefined,
  env: SshEnv,
): Promise<{ target: SshTarget; proxy?: ProxyDirective }> {
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
  const fromConfig = many('userknownhostsfile')
    .map(path)
    .filter((f) => f !== '/dev/null');
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
  // compute() keeps the first value of each key in the order met: whichever of the two came first wins.
  const first = Object.keys(c).find((k) => k === 'proxyjump' || k === 'proxycommand');
  const proxy: ProxyDirective | undefined = first && {
    kind: first === 'proxyjump' ? 'jump' : 'command',
    value: many(first).join(' '),
  };
  return {
    target: { alias, hostName, port, user, identityFiles, knownHostsFiles, knownHostNames: [...new Set(names)] },
    ...(proxy && { proxy }),
  };
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
