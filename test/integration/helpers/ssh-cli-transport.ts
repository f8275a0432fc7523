// Test-only Transport over the OpenSSH client with the lab's ssh_config, so balancer and
// check tests do not depend on the ssh2 transport. One master connection per host
// (ControlMaster) keeps a round trip close to what a pooled ssh2 connection costs.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { quoteArgv } from '../../../src/transport/quote.js';
import { ExternalCommandError } from '../../../src/errors.js';
import type { RunOptions, RunResult, Transport } from '../../../src/transport/types.js';

export class SshCliTransport implements Transport {
  /** How many commands this transport ran: one per round trip. */
  runs = 0;
  private readonly opts: string[];

  constructor(
    readonly host: string,
    sshConfig = '/run/baton-lab/ssh_config',
  ) {
    this.opts = [
      '-F',
      sshConfig,
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${join(tmpdir(), 'baton-test-ssh-%C')}`,
      '-o',
      'ControlPersist=60',
      '-o',
      'ConnectTimeout=5',
      '-o',
      'ServerAliveInterval=1',
      '-o',
      'ServerAliveCountMax=3',
    ];
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.runs++;
    const r = await execa('ssh', [...this.opts, this.host, '--', quoteArgv(argv)], {
      input: opts.stdin,
      stdin: opts.stdin === undefined ? 'ignore' : 'pipe',
      timeout: opts.timeoutMs,
      reject: false,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    const result = { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    if (r.exitCode === 0 || (opts.allowFailure && r.exitCode !== undefined && r.exitCode !== 255)) return result;
    throw new ExternalCommandError(
      this.host,
      argv,
      r.exitCode ?? null,
      r.timedOut ? `timed out after ${opts.timeoutMs} ms` : r.stderr.trim(),
    );
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    await execa('scp', [...this.opts, '-q', localPath, `${this.host}:${remotePath}`]);
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    await execa('scp', [...this.opts, '-q', `${this.host}:${remotePath}`, localPath]);
  }

  /** End the master connection. */
  async close(): Promise<void> {
    await execa('ssh', [...this.opts, '-O', 'exit', this.host], { reject: false });
  }
}
