// One interface for running commands on a host, whatever carries them (ssh2, execa, a recorder).
// Commands are argv arrays; a transport quotes them, nothing above it builds shell strings.

export interface RunOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /** Kill the command and fail after this long. */
  timeoutMs?: number;
  /** Return a non-zero exit as a result instead of throwing ExternalCommandError. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How a long-lived command ended: its exit, a signal, or the carrier failing (connection lost, spawn failed). */
export interface StreamEnd {
  code: number | null;
  signal?: string;
  /** Why it ended when the command did not simply exit (the transport's words, naming the host). */
  error?: string;
  /** The last lines of its stderr. */
  stderr: string;
}

/**
 * A command kept running with its stdin and stdout open, for a conversation of many round trips
 * over one channel (HAProxy's runtime API in prompt mode). `ended` never rejects: a channel that
 * dies while nobody is waiting must not become an unhandled rejection.
 */
export interface TransportStream {
  /** Send bytes to the command's stdin; ignored once the stream has ended (`ended` tells why). */
  write(data: string): void;
  /** Receive stdout as it arrives (UTF-8); one listener, set before the first write. */
  onData(listener: (chunk: string) => void): void;
  /** Settles once, when the command exits or the channel closes or fails. */
  readonly ended: Promise<StreamEnd>;
  /** Whether `ended` has settled. */
  readonly isEnded: boolean;
  /** Close stdin and let the command finish; kill it if it does not. Resolves once it has ended. */
  close(): Promise<void>;
}

export interface Transport {
  /** The host as named in baton.yml (for messages). */
  readonly host: string;
  /**
   * Run an argv; throws ExternalCommandError (naming host, argv, code, stderr tail) on a non-zero exit unless
   * allowFailure.
   */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Copy a local file to the host. */
  upload(localPath: string, remotePath: string): Promise<void>;
  /** Copy a file from the host. */
  download(remotePath: string, localPath: string): Promise<void>;
  /**
   * Start an argv and keep it running with stdin/stdout open (optional: callers without it fall
   * back to run()). Throws the transport's usual errors when it cannot start.
   */
  openStream?(argv: readonly string[]): Promise<TransportStream>;
}

/** Hands out one (pooled) transport per host and closes them all at the end. */
export interface Transports {
  get(host: string): Transport;
  closeAll(): Promise<void>;
}
