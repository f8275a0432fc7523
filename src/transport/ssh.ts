// The SSH transport (ssh2): one pooled connection per host, opened on first use and reused by
// every run, upload and download; host keys checked against known_hosts before anything is sent.
// A new connection costs ~0.35 s here, so reuse is what keeps a push close to a shell script.
import { readFile } from 'node:fs/promises';
import ssh2, { type AnyAuthMethod, type ClientChannel, type ConnectConfig, type SFTPWrapper, type ServerHostKeyAlgorithm } from 'ssh2';

// ssh2 is CommonJS: Node's ESM loader only sees its default export.
const { Client, utils } = ssh2;
type Client = InstanceType<typeof Client>;
import { BatonError, ExternalCommandError, shortCommand } from '../errors.js';
import { TransportError, tail } from './errors.js';
import { KnownHosts, hostKeyError, type HostKeyError } from './known-hosts.js';
import { quoteArgv } from './quote.js';
import { Semaphore } from './semaphore.js';
import { defaultSshEnv, loadSshConfig, resolveSshTarget, type SshEnv, type SshSettings, type SshTarget } from './ssh-config.js';
import type { RunOptions, RunResult, Transport, Transports } from './types.js';
import type SSHConfig from 'ssh-config';

export interface SshTransportOptions {
  /** Exec channels open at once on one connection; sshd's MaxSessions is 10 and SFTP takes one. */
  maxChannels?: number;
  /** SSH agent socket; defaults to SSH_AUTH_SOCK. */
  agentSocket?: string;
  env?: SshEnv;
}

/** What a transport has done, for tests and benchmarks. */
export interface SshStats {
  connections: number;
  runs: number;
  peakChannels: number;
}

const DEFAULT_MAX_CHANNELS = 8;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const UNREACHABLE_HINT = 'check the host is up and reachable, and ssh.port / ssh_config for it';

// ssh2 names the RSA host key algorithms by signature; known_hosts names the key type.
const HOST_KEY_ALGORITHMS: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

interface Connection {
  client: Client;
  alive: boolean;
  /** Why a connection that was ready has gone (its first error, else how it closed). */
  lostBecause?: string;
  /** Told once when a ready connection goes, so commands in flight do not wait for a close that may never come. */
  readonly onLost: Set<() => void>;
  sftp?: Promise<SFTPWrapper>;
}

const CLOSED_BY_BATON = 'closed by baton';
const CLOSE_GRACE_MS = 2_000;

/** Mark a connection gone (the first reason wins) and tell whoever was waiting on it. */
function lost(c: Connection, why: string): void {
  if (!c.alive) return;
  c.alive = false;
  c.lostBecause = why;
  const waiting = [...c.onLost];
  c.onLost.clear();
  for (const tell of waiting) tell();
}

/** Call `fn` once `c` has gone (soon, if it already has); the returned function cancels that. */
function onceLost(c: Connection, fn: () => void): () => void {
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

/** Runs commands on one host over a single lazily opened, shared SSH connection. */
export class SshTransport implements Transport {
  private connection?: Promise<Connection>;
  /** The connection `connection` resolved to, once it has. */
  private live?: Connection;
  private readonly channels: Semaphore;
  private readonly counts = { connections: 0, runs: 0 };

  constructor(
    readonly host: string,
    private readonly target: () => Promise<SshTarget>,
    private readonly settings: SshSettings,
    private readonly options: SshTransportOptions = {},
  ) {
    this.channels = new Semaphore(options.maxChannels ?? DEFAULT_MAX_CHANNELS);
  }

  get stats(): SshStats {
    return { ...this.counts, peakChannels: this.channels.peak };
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    // sshd refuses signal requests on root sessions (no post-auth privilege separation), and a
    // closed channel leaves its process running; so the host enforces a timeout itself, killing
    // the command's whole process group, while the timer below returns on time whatever happens.
    const command = quoteArgv(opts.timeoutMs === undefined ? argv : ['timeout', '-s', 'KILL', String(opts.timeoutMs / 1000), ...argv]);
    const release = await this.channels.acquire();
    let opened: { c: Connection; stream: ClientChannel };
    try {
      this.counts.runs++;
      opened = await this.withConnection(async (c) => ({ c, stream: await openExecRetrying(c.client, command) }));
    } catch (err) {
      release();
      if (err instanceof BatonError) throw err; // host key refused, cannot connect, …
      throw new TransportError(this.host, `cannot start \`${shortCommand(argv)}\` on ${this.host}: ${(err as Error).message}`);
    }
    const { c, stream } = opened;
    // The slot is given back when the channel is really gone (even if a timeout returned earlier),
    // or with the connection it ran on.
    const forget = onceLost(c, release);
    stream.once('close', () => {
      forget();
      release();
    });
    return this.collect(stream, c, argv, opts);
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    const sftp = await this.withConnection((c) => this.sftpOf(c));
    await new Promise<void>((resolve, reject) =>
      sftp.fastPut(localPath, remotePath, (err) =>
        err ? reject(new TransportError(this.host, `upload ${localPath} → ${this.host}:${remotePath} failed: ${err.message}`)) : resolve(),
      ),
    );
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const sftp = await this.withConnection((c) => this.sftpOf(c));
    await new Promise<void>((resolve, reject) =>
      sftp.fastGet(remotePath, localPath, (err) =>
        err ? reject(new TransportError(this.host, `download ${this.host}:${remotePath} → ${localPath} failed: ${err.message}`)) : resolve(),
      ),
    );
  }

  /** Close the connection (a later run opens a new one). */
  async close(): Promise<void> {
    const pending = this.connection;
    this.connection = undefined;
    this.live = undefined;
    const c = await pending?.catch(() => undefined);
    if (!c?.alive) return;
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

  /**
   * Use the pooled connection; if it turns out to have dropped before the channel opened (so
   * nothing ran), reconnect once and try again. A drop after a command started is not retried.
   */
  private async withConnection<T>(use: (c: Connection) => Promise<T>): Promise<T> {
    const c = await this.connect();
    try {
      return await use(c);
    } catch (err) {
      // ssh2 may report "Not connected" before the client's own close event arrives.
      if (err instanceof Error && err.message === 'Not connected') lost(c, 'not connected');
      // A connection baton closed itself (the session ended) is not reopened for whatever was still
      // on its way: that connection would belong to nobody, and keep the process from exiting.
      if (c.alive || err instanceof BatonError || c.lostBecause === CLOSED_BY_BATON) throw err;
      return use(await this.connect());
    }
  }

  /** The pooled connection: the one being opened, else the open one, else a new one. */
  private connect(): Promise<Connection> {
    if (this.connection && this.live?.alive !== false) return this.connection;
    const attempt = this.open().then((c) => {
      if (this.connection === attempt) this.live = c;
      return c;
    });
    this.connection = attempt;
    this.live = undefined;
    attempt.catch(() => {
      if (this.connection === attempt) this.connection = undefined;
    });
    return attempt;
  }

  private async open(): Promise<Connection> {
    const target = await this.target();
    const knownHosts = await KnownHosts.load(target.knownHostsFiles);
    let refused: HostKeyError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const verdict = knownHosts.verify(target.knownHostNames, key);
      if (verdict.status === 'ok') return true;
      refused = hostKeyError(this.host, target, verdict, key, target.knownHostsFiles);
      return false;
    };
    const client = new Client();
    const connection: Connection = { client, alive: false, onLost: new Set() };
    const config: ConnectConfig = {
      host: target.hostName,
      port: target.port,
      username: target.user,
      hostVerifier,
      authHandler: await this.authMethods(target),
      keepaliveInterval: this.settings.keepalive,
      keepaliveCountMax: 3,
      // Bounded, so a host that accepts TCP and never speaks SSH fails instead of hanging a run.
      readyTimeout: this.settings.connectTimeout > 0 ? this.settings.connectTimeout : DEFAULT_CONNECT_TIMEOUT_MS,
    };
    // Ask for a key type we hold a record of, so a host with several keys is not called "changed".
    const algorithms = knownHosts.keyTypesFor(target.knownHostNames).flatMap((t) => HOST_KEY_ALGORITHMS[t] ?? []);
    if (algorithms.length > 0) config.algorithms = { serverHostKey: algorithms };

    this.counts.connections++;
    const where = `${target.user}@${target.hostName}:${target.port}`;
    await new Promise<void>((resolve, reject) => {
      let reached = false;
      let settled = false;
      const fail = (err: BatonError): void => {
        if (settled) return;
        settled = true;
        reject(err);
        client.destroy(); // an auth failure leaves the socket open, and it would keep the process alive
      };
      client.once('connect', () => (reached = true));
      client.once('ready', () => {
        settled = true;
        connection.alive = true;
        resolve();
      });
      // ssh2 can raise several errors for one failure (a handshake timeout, then "connection lost
      // before handshake" as it drops the socket), and more at any time later: an 'error' without
      // a listener crashes the process, so this one listens for the client's whole life.
      client.on('error', (err: Error & { level?: string }) => {
        if (!settled) return fail(refused ?? this.connectError(err, where, reached, config));
        lost(connection, err.message);
        client.destroy();
      });
      client.on('end', () => lost(connection, 'closed by the host'));
      client.on('close', () => {
        fail(refused ?? new TransportError(this.host, `cannot connect to ${this.host} (${where}): the connection closed during the SSH handshake`, UNREACHABLE_HINT));
        lost(connection, 'closed');
      });
      client.connect(config);
    });
    return connection;
  }

  /** Why a connection attempt failed, in words that name the host and what to check. */
  private connectError(err: Error & { level?: string }, where: string, reached: boolean, config: ConnectConfig): TransportError {
    const prefix = `cannot connect to ${this.host} (${where})`;
    if (err.level === 'client-authentication') {
      return new TransportError(this.host, `${prefix}: authentication failed (tried ${describeAuth(config.authHandler)})`, 'check ssh.user and ssh.identity in baton.yml (or the agent) against the host');
    }
    const seconds = `${(config.readyTimeout ?? 0) / 1000} s`;
    if (err.level === 'client-timeout') {
      return reached
        ? new TransportError(this.host, `${prefix}: no SSH handshake within ${seconds} (the port accepts connections but no SSH server answers)`, UNREACHABLE_HINT)
        : new TransportError(this.host, `${prefix}: no answer within ${seconds}`, UNREACHABLE_HINT);
    }
    if (/Connection lost before handshake/.test(err.message)) {
      return new TransportError(this.host, `${prefix}: the host closed the connection before the SSH handshake (is an SSH server listening on that port?)`, UNREACHABLE_HINT);
    }
    return new TransportError(this.host, `${prefix}: ${err.message}`, UNREACHABLE_HINT);
  }

  private async authMethods(target: SshTarget): Promise<AnyAuthMethod[]> {
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
      const parsed = utils.parseKey(key);
      if (parsed instanceof Error) skipped.push(`${file} (${parsed.message})`);
      else methods.push({ type: 'publickey', username: target.user, key });
    }
    const agent = this.options.agentSocket ?? process.env.SSH_AUTH_SOCK;
    if (agent) methods.push({ type: 'agent', username: target.user, agent });
    if (methods.length === 0) {
      throw new TransportError(
        this.host,
        `no way to authenticate to ${this.host}: no usable identity file${skipped.length ? ` (${skipped.join(', ')})` : ''} and no SSH agent (SSH_AUTH_SOCK)`,
        'set ssh.identity in baton.yml, or start ssh-agent and add the key',
      );
    }
    return methods;
  }

  private sftpOf(c: Connection): Promise<SFTPWrapper> {
    if (!c.sftp) {
      const session = new Promise<SFTPWrapper>((resolve, reject) =>
        c.client.sftp((err, sftp) => {
          if (err) return reject(err);
          sftp.on('close', () => {
            if (c.sftp === session) c.sftp = undefined;
          });
          resolve(sftp);
        }),
      );
      c.sftp = session;
      session.catch(() => {
        if (c.sftp === session) c.sftp = undefined;
      });
    }
    return c.sftp;
  }

  private collect(stream: ClientChannel, c: Connection, argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let code: number | null = null;
      let signal: string | undefined;
      let timedOut = false;
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        forget();
        const exit = exits.get(stream);
        code = exit?.code ?? null;
        signal = exit?.signal;
        const result = { code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
        if (!timedOut && (code === 0 || (opts.allowFailure && code !== null))) return resolve(result);
        if (!timedOut && code === null && !signal && !c.alive) {
          return reject(
            new TransportError(
              this.host,
              `lost the connection to ${this.host} while running \`${shortCommand(argv)}\`: ${c.lostBecause ?? 'closed'}`,
              'the command may or may not have finished on the host: check it before running again',
            ),
          );
        }
        const why = timedOut
          ? `timed out after ${opts.timeoutMs} ms`
          : code === null
            ? signal
              ? `killed by ${signal.startsWith('SIG') ? signal : `SIG${signal}`}`
              : 'connection lost before the command finished'
            : '';
        reject(new ExternalCommandError(this.host, argv, code, [tail(result.stderr), why].filter(Boolean).join('\n')));
      };
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              stream.close();
              finish();
            }, opts.timeoutMs);
      stream.on('close', finish);
      // A connection that dies can take the channel without a close event: do not wait for one.
      const forget = onceLost(c, finish);
      stream.end(opts.stdin ?? undefined);
    });
  }
}

/** One pooled SshTransport per host, sharing the ssh_config and settings. */
export class SshTransports implements Transports {
  private readonly pool = new Map<string, SshTransport>();
  private sshConfig?: Promise<SSHConfig | undefined>;
  private readonly env: SshEnv;

  constructor(
    private readonly settings: SshSettings,
    private readonly options: SshTransportOptions = {},
  ) {
    this.env = options.env ?? defaultSshEnv();
  }

  get(host: string): SshTransport {
    let t = this.pool.get(host);
    if (!t) {
      t = new SshTransport(host, () => this.resolve(host), this.settings, this.options);
      this.pool.set(host, t);
    }
    return t;
  }

  /** Where `host` resolves to (ssh_config applied), e.g. for messages and matching by address. */
  async resolve(host: string): Promise<SshTarget> {
    this.sshConfig ??= loadSshConfig(this.settings.config, this.env);
    return resolveSshTarget(host, this.settings, await this.sshConfig, this.env);
  }

  async closeAll(): Promise<void> {
    const all = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(all.map((t) => t.close()));
  }
}

/**
 * sshd frees a session slot a moment after the client sees the channel close, so a new channel
 * can be refused ("open failed") while MaxSessions is briefly full. Nothing started: try again.
 */
async function openExecRetrying(client: Client, command: string, attempts = 8): Promise<ClientChannel> {
  for (let i = 1; ; i++) {
    try {
      return await openExec(client, command);
    } catch (err) {
      if (i >= attempts || !(err instanceof Error) || !/Channel open failure/.test(err.message)) throw err;
      await new Promise((r) => setTimeout(r, 20 * i));
    }
  }
}

/** Exit status per channel, caught in the exec callback itself: a fast command's exit-status can
 *  arrive in the same read as the exec reply, before collect() gets to listen (output waits, 'exit' does not). */
const exits = new WeakMap<ClientChannel, { code: number | null; signal?: string }>();

function openExec(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      stream.on('exit', (code: number | null, signal?: string) => exits.set(stream, { code, ...(signal ? { signal } : {}) }));
      resolve(stream);
    }),
  );
}

function describeAuth(methods: ConnectConfig['authHandler']): string {
  if (!Array.isArray(methods)) return 'nothing';
  return methods.map((m) => (typeof m === 'string' ? m : m.type === 'agent' ? 'agent' : 'identity file')).join(', ');
}
