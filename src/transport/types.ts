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

export interface Transport {
  /** The host as named in baton.yml (for messages). */
  readonly host: string;
  /** Run an argv; throws ExternalCommandError (naming host, argv, code, stderr tail) on a non-zero exit unless allowFailure. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Copy a local file to the host. */
  upload(localPath: string, remotePath: string): Promise<void>;
  /** Copy a file from the host. */
  download(remotePath: string, localPath: string): Promise<void>;
}

/** Hands out one (pooled) transport per host and closes them all at the end. */
export interface Transports {
  get(host: string): Transport;
  closeAll(): Promise<void>;
}
