// A transport that touches nothing: it records every call per host and answers from a table
// of canned responses (engine tests), or prints what would run (dry run, like SSHKit's printer).
import { ExternalCommandError } from '../errors.js';
import { tail } from './errors.js';
import { quoteArgv } from './quote.js';
import type { RunOptions, RunResult, Transport, Transports } from './types.js';

export type RecordedCall =
  | { host: string; kind: 'run'; argv: readonly string[]; opts: RunOptions }
  | { host: string; kind: 'upload' | 'download'; from: string; to: string };

/** Which runs a response answers: argv prefix (words), a RegExp on the quoted command, or a predicate. */
export type Matcher = readonly string[] | RegExp | ((argv: readonly string[], host: string) => boolean);

export type Answer =
  | Partial<RunResult>
  | ((argv: readonly string[], host: string, opts: RunOptions) => Partial<RunResult> | Promise<Partial<RunResult>>);

export interface CannedResponse {
  match: Matcher;
  /** Only for this host (default: any). */
  host?: string;
  answer: Answer;
  /** Answer only this many times, then let later responses match (default: always). */
  times?: number;
}

export interface RecordingOptions {
  responses?: CannedResponse[];
  /** Print every call, e.g. `[web-1] $ ln -sfn …` (dry run). */
  log?: (line: string) => void;
  /** Throw on a run no response matches, instead of answering exit 0 with no output. */
  strict?: boolean;
}

/** Hands out RecordingTransports that share one call log and response table. */
export class RecordingTransports implements Transports {
  readonly calls: RecordedCall[] = [];
  private readonly responses: (CannedResponse & { used: number })[];
  private readonly pool = new Map<string, RecordingTransport>();
  closed = false;

  constructor(private readonly options: RecordingOptions = {}) {
    this.responses = (options.responses ?? []).map((r) => ({ ...r, used: 0 }));
  }

  /** Add a response; later ones are consulted after earlier ones. */
  respond(response: CannedResponse): this {
    this.responses.push({ ...response, used: 0 });
    return this;
  }

  get(host: string): RecordingTransport {
    let t = this.pool.get(host);
    if (!t) {
      t = new RecordingTransport(host, this);
      this.pool.set(host, t);
    }
    return t;
  }

  /** The argvs run on one host, in order. */
  runsOn(host: string): (readonly string[])[] {
    return this.calls.flatMap((c) => (c.host === host && c.kind === 'run' ? [c.argv] : []));
  }

  /** Every run as `host: quoted command`, handy for snapshot-style assertions. */
  transcript(): string[] {
    return this.calls.map((c) => `${c.host}: ${describe(c)}`);
  }

  async closeAll(): Promise<void> {
    this.closed = true;
  }

  /** @internal */
  record(call: RecordedCall): void {
    this.calls.push(call);
    this.options.log?.(`[${call.host}] ${describe(call)}`);
  }

  /** @internal */
  async answer(host: string, argv: readonly string[], opts: RunOptions): Promise<RunResult> {
    const r = this.responses.find(
      (x) =>
        (x.host === undefined || x.host === host) &&
        (x.times === undefined || x.used < x.times) &&
        matches(x.match, argv, host),
    );
    if (!r) {
      if (this.options.strict)
        throw new Error(`RecordingTransports: no canned response for ${host}: ${quoteArgv(argv)}`);
      return { code: 0, stdout: '', stderr: '' };
    }
    r.used++;
    const a = typeof r.answer === 'function' ? await r.answer(argv, host, opts) : r.answer;
    return { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  }
}

export class RecordingTransport implements Transport {
  constructor(
    readonly host: string,
    private readonly owner: RecordingTransports,
  ) {}

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    quoteArgv(argv); // same argument validation as the real transports
    this.owner.record({ host: this.host, kind: 'run', argv: [...argv], opts });
    const result = await this.owner.answer(this.host, argv, opts);
    if (result.code !== 0 && !opts.allowFailure)
      throw new ExternalCommandError(this.host, argv, result.code, tail(result.stderr));
    return result;
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    this.owner.record({ host: this.host, kind: 'upload', from: localPath, to: remotePath });
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    this.owner.record({ host: this.host, kind: 'download', from: remotePath, to: localPath });
  }
}

function matches(m: Matcher, argv: readonly string[], host: string): boolean {
  if (typeof m === 'function') return m(argv, host);
  if (m instanceof RegExp) return m.test(quoteArgv(argv));
  return m.length <= argv.length && m.every((w, i) => argv[i] === w);
}

function describe(c: RecordedCall): string {
  if (c.kind === 'run') {
    const stdin = c.opts.stdin !== undefined ? ` <<< (${Buffer.byteLength(c.opts.stdin)} bytes)` : '';
    return `$ ${quoteArgv(c.argv)}${stdin}`;
  }
  return c.kind === 'upload' ? `upload ${c.from} → ${c.to}` : `download ${c.from} → ${c.to}`;
}
