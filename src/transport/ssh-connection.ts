// One authenticated ssh2 connection: dialled directly or over a stream a bastion forwards,
// its host key checked against known_hosts before anything is sent, and every failure of the
// attempt turned into one error that names the host (an 'error' without a listener would crash).
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { AnyAuthMethod, Client as Ssh2Client, ConnectConfig, SFTPWrapper, ServerHostKeyAlgorithm } from 'ssh2';
import { BatonError } from '../errors.js';
import { loadSsh2 } from '../lazy-modules.js';
import { TransportError } from './errors.js';
import { KnownHosts, hostKeyError, type HostKeyError } from './known-hosts.js';
import type { SshEnv, SshSettings, SshTarget } from './ssh-config.js';

export type Client = Ssh2Client;

export interface DialOptions {
  /** SSH agent socket; defaults to SSH_AUTH_SOCK. */
  agentSocket?: string;
  env?: SshEnv;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const UNREACHABLE_HINT = 'check the host is up and reachable, and ssh.port / ssh_config for it';

/** The connect timeout in force, for both legs of a jump. */
export function connectTimeoutOf(settings: SshSettings): number {
  return settings.connectTimeout > 0 ? settings.connectTimeout : DEFAULT_CONNECT_TIMEOUT_MS;
}

// ssh2 names the RSA host key algorithms by signature; known_hosts names the key type.
const HOST_KEY_ALGORITHMS: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

export interface Connection {
  client: Client;
  alive: boolean;
  /** Why a connection that was ready has gone (its first error, else how it closed). */
  lostBecause?: string;
  /** Told once when a ready connection goes, so commands in flight do not wait for a close that may never come. */
  readonly onLost: Set<() => void>;
  sftp?: Promise<SFTPWrapper>;
}

/** Mark a connection gone (the first reason wins) and tell whoever was waiting on it. */
export function lost(c: Connection, why: string): void {
  if (!c.alive) return;
  c.alive = false;
  c.lostBecause = why;
  const waiting = [...c.onLost];
  c.onLost.clear();
  for (const tell of waiting) tell();
}

/** Call `fn` once `c` has gone (soon, if it already has); the returned function cancels that. */
export function onceLost(c: Connection, fn: () => void): () => void {
  // A turn later: ssh2 closes a dead connection's channels just after it, and their own close
  // events (with any exit status) should win.
  const later = (): void => void setImmediate(fn);
  if (!c.alive) {
    later();
    return () => undefined;
  }
  c.onLost.add(later);
  return () => void c.onLost.delete(later);
}

/** How a connection baton closed itself is marked: nothing still on its way may reopen it. */
export const CLOSED_BY_BATON = 'closed by baton';
const CLOSE_GRACE_MS = 2_000;

/** End a connection and wait until it has closed. */
export async function hangUp(c: Connection): Promise<void> {
  if (!c.alive) return;
  lost(c, CLOSED_BY_BATON);
  await new Promise<void>((resolve) => {
    // A peer that never answers the disconnect must not hold the process open: cut it after a moment.
    const cut = setTimeout(() => c.client.destroy(), CLOSE_GRACE_MS);
    cut.unref();
    c.client.once('close', () => {
      clearTimeout(cut);
      resolve();
    });
    c.client.end();
  });
}

/** Reaching a host through a bastion: the forwarded stream to dial over, and the bastion's name. */
export interface Through {
  sock: Duplex;
  bastion: string;
}

/**
 * Open an authenticated connection to `target`, named `host` in every error; over `through.sock`
 * when a bastion forwards it (the host key is still the target's, checked under its own names).
 */
export async function dial(
  host: string,
  target: SshTarget,
  settings: SshSettings,
  options: DialOptions,
  through?: Through,
): Promise<Connection> {
  const knownHosts = await KnownHosts.load(target.knownHostsFiles);
  let refused: HostKeyError | undefined;
  const hostVerifier = (key: Buffer): boolean => {
    const verdict = knownHosts.verify(target.knownHostNames, key);
    if (verdict.status === 'ok') return true;
    refused = hostKeyError(host, target, verdict, key, target.knownHostsFiles);
    return false;
  };
  const { Client } = await loadSsh2();
  const client = new Client();
  const connection: Connection = { client, alive: false, onLost: new Set() };
  const config: ConnectConfig = {
    host: target.hostName,
    port: target.port,
    username: target.user,
    hostVerifier,
    authHandler: await authMethods(host, target, options),
    keepaliveInterval: settings.keepalive,
    keepaliveCountMax: 3,
    // Bounded, so a host that accepts TCP and never speaks SSH fails instead of hanging a run.
    readyTimeout: connectTimeoutOf(settings),
    ...(through && { sock: through.sock }),
  };
  // Ask for a key type we hold a record of, so a host with several keys is not called "changed".
  const algorithms = knownHosts.keyTypesFor(target.knownHostNames).flatMap((t) => HOST_KEY_ALGORITHMS[t] ?? []);
  if (algorithms.length > 0) config.algorithms = { serverHostKey: algorithms };

  const viaBastion = through ? ` through the bastion ${through.bastion}` : '';
  const where = `${target.user}@${target.hostName}:${target.port}${viaBastion}`;
  await handshake(host, connection, config, { where, ...(through && { bastion: through.bastion }) }, () => refused);
  return connection;
}

/**
 * Connect `connection`'s client with `config` and wait for it to be ready; a failure rejects with
 * an error naming the host (`refused()`: the host key it was refused for, if that is why). Its
 * listeners stay for the connection's life and report its loss.
 */
function handshake(
  host: string,
  connection: Connection,
  config: ConnectConfig,
  route: { where: string; bastion?: string },
  refused: () => HostKeyError | undefined,
): Promise<void> {
  const { client } = connection;
  const { where } = route;
  return new Promise<void>((resolve, reject) => {
    let reached = false;
    let settled = false;
    const fail = (err: BatonError): void => {
      if (settled) return;
      settled = true;
      reject(err);
      client.destroy(); // an auth failure leaves the socket open, and it would keep the process alive
    };
    client.once('connect', () => {
      reached = true;
      // Without it, Nagle's algorithm holds each small SSH packet until the last is acknowledged,
      // and the peer's delayed ACK makes every command ~40 ms long (measured: 45 ms → 5 ms a command).
      client.setNoDelay(true);
    });
    client.once('ready', () => {
      settled = true;
      connection.alive = true;
      resolve();
    });
    // ssh2 can raise several errors for one failure (a handshake timeout, then "connection lost
    // before handshake" as it drops the socket), and more at any time later: an 'error' without
    // a listener crashes the process, so this one listens for the client's whole life.
    client.on('error', (err: Error & { level?: string }) => {
      if (!settled) return fail(refused() ?? connectError(host, err, where, reached, config));
      lost(connection, err.message);
      client.destroy();
    });
    // Through a bastion, the bastion's connection going is one way for this one to go: say so.
    const via = route.bastion !== undefined ? ` (through the bastion ${route.bastion})` : '';
    client.on('end', () => lost(connection, `closed by the host${via}`));
    client.on('close', () => {
      fail(
        refused() ??
          new TransportError(
            host,
            `cannot connect to ${host} (${where}): the connection closed during the SSH handshake`,
            UNREACHABLE_HINT,
          ),
      );
      lost(connection, `closed${via}`);
    });
    client.connect(config);
  });
}

/** Why a connection attempt failed, in words that name the host and what to check. */
function connectError(
  host: string,
  err: Error & { level?: string },
  where: string,
  reached: boolean,
  config: ConnectConfig,
): TransportError {
  const prefix = `cannot connect to ${host} (${where})`;
  if (err.level === 'client-authentication') {
    return new TransportError(
      host,
      `${prefix}: authentication failed (tried ${describeAuth(config.authHandler)})`,
      'check ssh.user and ssh.identity in baton.yml (or the agent) against the host',
    );
  }
  const seconds = `${(config.readyTimeout ?? 0) / 1000} s`;
  if (err.level === 'client-timeout') {
    return reached
      ? new TransportError(
          host,
          `${prefix}: no SSH handshake within ${seconds} (the port accepts connections but no SSH server answers)`,
          UNREACHABLE_HINT,
        )
      : new TransportError(host, `${prefix}: no answer within ${seconds}`, UNREACHABLE_HINT);
  }
  if (/Connection lost before handshake/.test(err.message)) {
    return new TransportError(
      host,
      `${prefix}: the host closed the connection before the SSH handshake (is an SSH server listening on that port?)`,
      UNREACHABLE_HINT,
    );
  }
  return new TransportError(host, `${prefix}: ${err.message}`, UNREACHABLE_HINT);
}

async function authMethods(host: string, target: SshTarget, options: DialOptions): Promise<AnyAuthMethod[]> {
  const methods: AnyAuthMethod[] = [];
  const skipped: string[] = [];
  for (const file of target.identityFiles) {
    let key: Buffer;
    try {
      key = await readFile(file);
    } catch {
      skipped.push(`${file} (unreadable)`);
      continue;
    }
    const parsed = (await loadSsh2()).parseKey(key);
    if (parsed instanceof Error) skipped.push(`${file} (${parsed.message})`);
    else methods.push({ type: 'publickey', username: target.user, key });
  }
  const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
  if (agent) methods.push({ type: 'agent', username: target.user, agent });
  if (methods.length === 0) {
    throw new TransportError(
      host,
      `no way to authenticate to ${host}: no usable identity ` +
        `file${skipped.length ? ` (${skipped.join(', ')})` : ''} and no SSH agent (SSH_AUTH_SOCK)`,
      'set ssh.identity in baton.yml, or start ssh-agent and add the key',
    );
  }
  return methods;
}

function describeAuth(methods: ConnectConfig['authHandler']): string {
  if (!Array.isArray(methods)) return 'nothing';
  return methods.map((m) => (typeof m === 'string' ? m : m.type === 'agent' ? 'agent' : 'identity file')).join(', ');
}
