// The control machine as a transport (host `localhost`): argv straight to execa, no shell.
import { copyFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { ExternalCommandError, shortCommand } from '../errors.js';
import { tail } from './errors.js';
import { argvForUser } from './privilege.js';
import type { RunOptions, RunResult, StreamEnd, Transport, TransportStream } from './types.js';
import { loadExeca } from '../lazy-modules.js';

/** How long a stream's command gets to exit after its stdin closed, before it is killed. */
const STREAM_CLOSE_GRACE_MS = 1_000;

export class LocalTransport implements Transport {
  constructor(
    readonly host = 'localhost',
    private readonly cwd?: string,
  ) {}

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argvForUser(argv, userInfo().username);
    if (!file) throw new TypeError('argv must name a command, got an empty array');
    const r = await (
      await loadExeca()
    )(file, args, {
      cwd: this.cwd,
      input: opts.stdin,
      stdin: opts.stdin === undefined ? 'ignore' : 'pipe',
      timeout: opts.timeoutMs,
      reject: false,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    const result = { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    if (r.exitCode === 0 || (opts.allowFailure && r.exitCode !== undefined && !r.timedOut)) return result;
    const why = r.timedOut
      ? `timed out after ${opts.timeoutMs} ms`
      : r.exitCode === undefined
        ? r.signal
          ? `killed by ${r.signal}`
          : r.originalMessage || r.shortMessage
        : '';
    throw new ExternalCommandError(
      this.host,
      argv,
      r.exitCode ?? null,
      [tail(r.stderr), why].filter(Boolean).join('\n'),
      undefined,
      r.timedOut,
    );
  }

  async openStream(argv: readonly string[]): Promise<TransportStream> {
    const [file, ...args] = argvForUser(argv, userInfo().username);
    if (!file) throw new TypeError('argv must name a command, got an empty array');
    const execa = await loadExeca();
    const child = execa(file, args, {
      cwd: this.cwd,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    });
    let stderr = '';
    let isEnded = false;
    let listener: (chunk: string) => void = () => undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => listener(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => void (stderr = tail(stderr + chunk)));
    // Writing to a command that has just exited fails with EPIPE: its exit is reported by `ended`.
    child.stdin.on('error', () => undefined);
    const end = (e: StreamEnd): StreamEnd => {
      isEnded = true;
      return e;
    };
    const ended: Promise<StreamEnd> = child.then(
      (r) =>
        end({
          code: r.exitCode ?? null,
          ...(r.signal ? { signal: r.signal } : {}),
          ...(r.exitCode === undefined && !r.signal
            ? { error: `${shortCommand(argv)} on ${this.host}: ${r.originalMessage || r.shortMessage}` }
            : {}),
          stderr,
        }),
      (err: unknown) =>
        end({ code: null, error: `${shortCommand(argv)} on ${this.host}: ${(err as Error).message}`, stderr }),
    );
    return {
      write: (data) => {
        if (!isEnded && child.stdin.writable) child.stdin.write(data);
      },
      onData: (fn) => void (listener = fn),
      ended,
      get isEnded() {
        return isEnded;
      },
      close: async () => {
        child.stdin.end();
        const kill = setTimeout(() => child.kill('SIGKILL'), STREAM_CLOSE_GRACE_MS);
        await ended;
        clearTimeout(kill);
      },
    };
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    await copyFile(localPath, remotePath);
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    await copyFile(remotePath, localPath);
  }
}
