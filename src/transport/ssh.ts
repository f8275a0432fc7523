// The SSH transport (ssh2): one pooled connection per host, opened on first use and reused by
// every run, upload and download (ssh-connection.ts dials it, ssh-jump.ts through a bastion).
// A new connection costs ~0.35 s here, so reuse is what keeps a push close to a shell script.
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { BatonError, ExternalCommandError, shortCommand } from '../errors.js';
import { TransportError, tail } from './errors.js';
import { argvForUser, isRaised, systemPathPrefix } from './privilege.js';
import { quoteArgv } from './quote.js';
import { Semaphore } from './semaphore.js';
import {
  defaultSshEnv,
  loadSshConfig,
  resolveSshTarget,
  type SshEnv,
  type SshSettings,
  type SshTarget,
} from './ssh-config.js';
import {
  CLOSED_BY_BATON,
  connectTimeoutOf,
  dial,
  hangUp,
  lost,
  onceLost,
  type Client,
  type Connection,
  type DialOptions,
} from './ssh-connection.js';
import { Bastions } from './ssh-jump.js';
import { channelStream } from './ssh-stream.js';
import type { RunOptions, RunResult, Transport, TransportStream, Transports } from './types.js';
import type SSHConfig from 'ssh-config';

export interface SshTransportOptions extends DialOptions {
  /** Exec channels open at once on one connection; sshd's MaxSessions is 10 and SFTP takes one. */
  maxChannels?: number;
}

/** What a transport has done, for tests and benchmarks. */
export interface SshStats {
  connections: number;
  runs: number;
  peakChannels: number;
}

const DEFAULT_MAX_CHANNELS = 8;

/** Runs commands on one host over a single lazily opened, shared SSH connection. */
export class SshTransport implements Transport {
  private connection?: Promise<Connection>;
  /** The connection `connection` resolved to, once it has. */
  private live?: Connection;
  private readonly channels: Semaphore;
  private readonly counts = { connections: 0, runs: 0 };
  /** Long-lived channels still open, closed with the connection. */
  private readonly streams = new Set<TransportStream>();

  constructor(
    readonly host: string,
    private readonly target: () => Promise<SshTarget>,
    private readonly settings: SshSettings,
    private readonly options: SshTransportOptions,
    /** The bastion connections of the whole pool (SshTransports closes them). */
    private readonly bastions: Bastions,
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
    const release = await this.channels.acquire();
    const started = performance.now(); // before the host starts the command: see collect()
    let opened: { c: Connection; stream: ClientChannel };
    try {
      this.counts.runs++;
      const command = await this.commandLine(argv, opts.timeoutMs);
      opened = await this.withConnection(async (c) => ({ c, stream: await openExecRetrying(c.client, command) }));
    } catch (err) {
      release();
      if (err instanceof BatonError) throw err; // host key refused, cannot connect, …
      throw new TransportError(
        this.host,
        `cannot start \`${shortCommand(argv)}\` on ${this.host}: ${(err as Error).message}`,
      );
    }
    const { c, stream } = opened;
    // The slot is given back when the channel is really gone (even if a timeout returned earlier),
    // or with the connection it ran on.
    const forget = onceLost(c, release);
    stream.once('close', () => {
      forget();
      release();
    });
    return this.collect(stream, c, argv, opts, started);
  }

  /** One exec channel kept open on the pooled connection (it holds a channel slot until it ends). */
  async openStream(argv: readonly string[]): Promise<TransportStream> {
    const release = await this.channels.acquire();
    let opened: { c: Connection; channel: ClientChannel };
    try {
      const command = await this.commandLine(argv, undefined);
      opened = await this.withConnection(async (c) => ({ c, channel: await openExecRetrying(c.client, command) }));
    } catch (err) {
      release();
      if (err instanceof BatonError) throw err;
      throw new TransportError(
        this.host,
        `cannot start \`${shortCommand(argv)}\` on ${this.host}: ${(err as Error).message}`,
      );
    }
    const { c, channel } = opened;
    const stream = channelStream(
      this.host,
      argv,
      channel,
      c,
      () => exits.get(channel),
      () => {
        release();
        this.streams.delete(stream);
      },
    );
    this.streams.add(stream);
    return stream;
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    const sftp = await this.withConnection((c) => this.sftpOf(c));
    await new Promise<void>((resolve, reject) =>
      sftp.fastPut(localPath, remotePath, (err) =>
        err
          ? reject(
              new TransportError(this.host, `upload ${localPath} → ${this.host}:${remotePath} failed: ${err.message}`),
            )
          : resolve(),
      ),
    );
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const sftp = await this.withConnection((c) => this.sftpOf(c));
    await new Promise<void>((resolve, reject) =>
      sftp.fastGet(remotePath, localPath, (err) =>
        err
          ? reject(
              new TransportError(
                this.host,
                `download ${this.host}:${remotePath} → ${localPath} failed: ${err.message}`,
              ),
            )
          : resolve(),
      ),
    );
  }

  /**
   * The command line the host's shell runs: as the logged-in user needs it (root drops a sudo prefix,
   * others find /usr/sbin tools), under the host's own timeout when one is set. A raised command is
   * sent SIGTERM first, which sudo passes on: a deploy user cannot SIGKILL what sudo started as root.
   */
  private async commandLine(argv: readonly string[], timeoutMs: number | undefined): Promise<string> {
    const { user } = await this.target();
    const own = argvForUser(argv, user);
    const limited =
      timeoutMs === undefined
        ? own
        : isRaised(own)
          ? ['timeout', '-k', '2', String(timeoutMs / 1000), ...own]
          : ['timeout', '-s', 'KILL', String(timeoutMs / 1000), ...own];
    return systemPathPrefix(user) + quoteArgv(limited);
  }

  /** Close the connection (a later run opens a new one). */
  async close(): Promise<void> {
    // Let long-lived commands see their stdin close and exit, rather than be cut by the hang-up.
    await Promise.all([...this.streams].map((s) => s.close()));
    const pending = this.connection;
    this.connection = undefined;
    this.live = undefined;
    const c = await pending?.catch(() => undefined);
    if (c) await hangUp(c);
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

  /**
   * The pooled connection: the one being opened, else the open one, else a new one. A host that
   * did not answer within the connect timeout is not dialled again until that long has passed:
   * a command that reads the record, then the lock, then the pool of a dead host waits once, not
   * once per read (a refused connection fails at once and is always tried again).
   */
  private connect(): Promise<Connection> {
    if (this.connection && this.live?.alive !== false) return this.connection;
    const timeout = connectTimeoutOf(this.settings);
    if (this.unanswered && Date.now() - this.unanswered.at < timeout) return Promise.reject(this.unanswered.error);
    const started = Date.now();
    const attempt = this.open().then((c) => {
      if (this.connection === attempt) this.live = c;
      this.unanswered = undefined;
      return c;
    });
    this.connection = attempt;
    this.live = undefined;
    attempt.catch((error: unknown) => {
      if (this.connection === attempt) this.connection = undefined;
      if (Date.now() - started >= timeout * 0.9) this.unanswered = { error, at: Date.now() };
    });
    return attempt;
  }

  /** The last dial that waited out the connect timeout, and when it gave up. */
  private unanswered: { error: unknown; at: number } | undefined;

  /** Dial the host, through its bastion when it has one (whose connection the pool shares). */
  private async open(): Promise<Connection> {
    const target = await this.target();
    this.counts.connections++;
    if (!target.via) return dial(this.host, target, this.settings, this.options);
    return dial(
      this.host,
      target,
      this.settings,
      this.options,
      await this.bastions.forward(this.host, target.via, target),
    );
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

  private collect(
    stream: ClientChannel,
    c: Connection,
    argv: readonly string[],
    opts: RunOptions,
    started: number,
  ): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        forget();
        const ended = commandEnd(this.host, argv, opts, {
          exit: exits.get(stream),
          timedOut,
          started,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          alive: c.alive,
          lostBecause: c.lostBecause,
        });
        if (ended instanceof Error) reject(ended);
        else resolve(ended);
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

/** What a command's channel left when it ended, and the connection's state then. */
interface ChannelEnd {
  exit: { code?: number | null; signal?: string } | undefined;
  /** Our own timer fired. */
  timedOut: boolean;
  /** performance.now() before the host started the command. */
  started: number;
  stdout: string;
  stderr: string;
  alive: boolean;
  lostBecause: string | undefined;
}

/** A command's result, or the error that says on which host it failed and how. */
function commandEnd(
  host: string,
  argv: readonly string[],
  opts: RunOptions,
  end: ChannelEnd,
): RunResult | TransportError | ExternalCommandError {
  const code = end.exit?.code ?? null;
  const signal = end.exit?.signal;
  // The host's `timeout -s KILL` can end the command a moment before our own timer fires (that
  // starts once the channel is open): a SIGKILL at or past the limit, counted from before the
  // host started the command, is the timeout.
  const timedOut =
    end.timedOut ||
    (opts.timeoutMs !== undefined &&
      code === null &&
      (signal === 'KILL' || signal === 'SIGKILL') &&
      performance.now() - end.started >= opts.timeoutMs);
  const result = { code: code ?? -1, stdout: end.stdout, stderr: end.stderr };
  if (!timedOut && (code === 0 || (opts.allowFailure && code !== null))) return result;
  if (!timedOut && code === null && !signal && !end.alive) {
    return new TransportError(
      host,
      `lost the connection to ${host} while running \`${shortCommand(argv)}\`: ${end.lostBecause ?? 'closed'}`,
      'the command may or may not have finished on the host: check it before running again',
    );
  }
  const why = timedOut
    ? `timed out after ${opts.timeoutMs} ms`
    : code === null
      ? signal
        ? `killed by ${signal.startsWith('SIG') ? signal : `SIG${signal}`}`
        : 'connection lost before the command finished'
      : '';
  return new ExternalCommandError(
    host,
    argv,
    code,
    [tail(result.stderr), why].filter(Boolean).join('\n'),
    undefined,
    timedOut,
  );
}

/** One pooled SshTransport per host, sharing the ssh_config and settings. */
export class SshTransports implements Transports {
  private readonly pool = new Map<string, SshTransport>();
  private sshConfig?: Promise<SSHConfig | undefined>;
  private readonly targets = new Map<string, Promise<SshTarget>>();
  private readonly env: SshEnv;
  private readonly bastions: Bastions;

  constructor(
    private readonly settings: SshSettings,
    private readonly options: SshTransportOptions = {},
  ) {
    this.env = options.env ?? defaultSshEnv();
    this.bastions = new Bastions(settings, options);
  }

  /** Connections opened to bastions (one per bastion while it stays up). */
  get bastionConnections(): number {
    return this.bastions.opened;
  }

  get(host: string): SshTransport {
    let t = this.pool.get(host);
    if (!t) {
      t = new SshTransport(host, () => this.resolve(host), this.settings, this.options, this.bastions);
      this.pool.set(host, t);
    }
    return t;
  }

  /** Where `host` resolves to (ssh_config applied), e.g. for messages and matching by address. */
  resolve(host: string): Promise<SshTarget> {
    // Once per host for the session: ssh_config's pattern matching took ~4 ms a host each time it
    // was asked (observation, connecting, matching members by address), ~0.4 s of a 100-host push.
    let target = this.targets.get(host);
    if (!target) {
      this.sshConfig ??= loadSshConfig(this.settings.config, this.env);
      const loading = this.sshConfig;
      target = loading.then((c) => resolveSshTarget(host, this.settings, c, this.env));
      target.catch(() => this.targets.delete(host));
      this.targets.set(host, target);
    }
    return target;
  }

  async closeAll(): Promise<void> {
    const all = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(all.map((t) => t.close()));
    await this.bastions.closeAll();
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
      stream.on('exit', (code: number | null, signal?: string) =>
        exits.set(stream, { code, ...(signal ? { signal } : {}) }),
      );
      resolve(stream);
    }),
  );
}
