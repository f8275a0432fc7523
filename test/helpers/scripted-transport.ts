// Transports for driver unit tests: they record every command a driver runs on the balancer host
// and answer it without a host — by a function of the command (ScriptedTransport) or from a
// queue of canned results, one per run (CannedTransport).
import type { RunOptions, RunResult, Transport } from '../../src/transport/types.js';

export class ScriptedTransport implements Transport {
  readonly calls: { argv: readonly string[]; stdin?: string }[] = [];
  constructor(
    readonly host: string,
    private readonly answer: (argv: readonly string[], stdin: string) => Partial<RunResult>,
  ) {}
  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.calls.push({ argv, ...(opts?.stdin !== undefined ? { stdin: String(opts.stdin) } : {}) });
    return { code: 0, stdout: '', stderr: '', ...this.answer(argv, String(opts?.stdin ?? '')) };
  }
  async upload(): Promise<void> {}
  async download(): Promise<void> {}
}

export class CannedTransport implements Transport {
  readonly calls: { argv: readonly string[]; opts?: RunOptions }[] = [];
  constructor(
    private readonly answers: (Partial<RunResult> | ((stdin: string) => Partial<RunResult>))[],
    readonly host = 'lb.example.com',
  ) {}
  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.calls.push({ argv, opts });
    const next = this.answers.shift();
    if (next === undefined) throw new Error(`unexpected run: ${argv.join(' ')}`);
    const r = typeof next === 'function' ? next(String(opts?.stdin ?? '')) : next;
    return { code: 0, stdout: '', stderr: '', ...r };
  }
  async upload(): Promise<void> {}
  async download(): Promise<void> {}
}
