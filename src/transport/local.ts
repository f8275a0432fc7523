// The control machine as a transport (host `localhost`): argv straight to execa, no shell.
import { copyFile } from 'node:fs/promises';
import { execa } from 'execa';
import { ExternalCommandError } from '../errors.js';
import { tail } from './errors.js';
import type { RunOptions, RunResult, Transport } from './types.js';

export class LocalTransport implements Transport {
  constructor(
    readonly host = 'localhost',
    private readonly cwd?: string,
  ) {}

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    if (!file) throw new TypeError('argv must name a command, got an empty array');
    const r = await execa(file, args, {
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
    throw new ExternalCommandError(this.host, argv, r.exitCode ?? null, [tail(r.stderr), why].filter(Boolean).join('\n'));
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    await copyFile(localPath, remotePath);
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    await copyFile(remotePath, localPath);
  }
}
