// One runtime API connection per balancer for the whole run: `socat stdio SOCKET` kept open over
// one transport stream (one SSH channel), HAProxy in prompt mode, so a drain or a poll costs a
// round trip on an open channel instead of a new channel and a new socat each time.
//
// Every request starts with `show info`: after a reload (`-sf`) HAProxy 2.6 keeps an interactive
// connection on the OLD process, which goes on answering (`Stopping: 1`) and lingers while we
// stay connected. A request whose probe says so reached nobody that serves new traffic: it is
// sent again on a fresh channel, which reaches the new process.
import { ExternalCommandError, shortCommand } from '../errors.js';
import { tail, TransportError } from '../transport/errors.js';
import type { StreamEnd, Transport, TransportStream } from '../transport/types.js';
import { promptModeCommands, runtimeChannelArgv, SHOW_INFO } from './haproxy-commands.js';
import { splitAnswers } from './haproxy-stat.js';

export type StreamingTransport = Transport & Required<Pick<Transport, 'openStream'>>;

export function canStream(transport: Transport): transport is StreamingTransport {
  return typeof transport.openStream === 'function';
}

export interface IdlePolicy {
  /** Our connection's idle timeout (`set timeout cli`), whatever the configured `stats timeout`. */
  cliTimeoutS: number;
  /** A channel idle this long is replaced before use, rather than raced against HAProxy closing it. */
  reopenAfterMs: number;
}

const DEFAULT_IDLE: IdlePolicy = { cliTimeoutS: 60, reopenAfterMs: 45_000 };
/** Requests sent again because they reached a stopping process, before giving up (a reload racing each time). */
const STOPPING_RETRIES = 2;

/** What a RuntimeChannel has done, for tests and benchmarks. */
export interface RuntimeChannelStats {
  opened: number;
  requests: number;
}

/**
 * Runtime API requests over one long-lived channel, one at a time. A channel that dies or times
 * out fails the request in flight and is replaced for the next one. Reads (`show …` only) are
 * tried once more on a fresh channel; a change whose outcome is unknown is never sent again.
 */
export class RuntimeChannel {
  private readonly argv: string[];
  private current?: OpenChannel;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly counts: RuntimeChannelStats = { opened: 0, requests: 0 };
  private closed = false;

  constructor(
    private readonly transport: StreamingTransport,
    socket: string,
    private readonly timeoutMs: number,
    private readonly idle: IdlePolicy = DEFAULT_IDLE,
  ) {
    this.argv = runtimeChannelArgv(socket);
  }

  get stats(): RuntimeChannelStats {
    return { ...this.counts };
  }

  /** The answer of each command, in order (as splitAnswers gives them on the exec path). */
  request(commands: readonly string[]): Promise<string[]> {
    if (commands.length === 0) return Promise.reject(new Error('a runtime API request needs at least one command'));
    const answer = this.queue.then(() => this.send(commands));
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  /** Close the channel now (as a hang-up would): a request in flight or queued fails, none opens another. */
  async close(): Promise<void> {
    this.closed = true;
    const open = this.current;
    this.current = undefined;
    await open?.close();
  }

  private async send(commands: readonly string[]): Promise<string[]> {
    this.counts.requests++;
    const reading = commands.every((c) => c.startsWith('show '));
    let lostOnce = false;
    for (let stopping = 0; ;) {
      const channel = await this.channel();
      let answers: string[];
      try {
        answers = await channel.ask([SHOW_INFO, ...commands], this.timeoutMs);
      } catch (err) {
        this.drop(channel);
        if (!(err instanceof ChannelFailed)) throw err;
        if (reading && !lostOnce && !this.closed) {
          lostOnce = true;
          continue;
        }
        throw this.lost(commands, err, reading);
      }
      const [probe = '', ...rest] = answers;
      if (!/^Stopping: 1$/m.test(probe)) return rest;
      // An old process after a reload: it served the request, the process that serves traffic did not.
      this.drop(channel);
      if (++stopping > STOPPING_RETRIES) {
        throw new TransportError(
          this.transport.host,
          `haproxy on ${this.transport.host} kept answering from a stopping process (a reload in progress) ` +
            `to \`${shortCommand([commands.join('; ')])}\``,
          'wait for the reload to finish, then check the balancer with `baton status`',
        );
      }
    }
  }

  /** The open channel, or a new one in prompt mode (the dead or idle one dropped first). */
  private async channel(): Promise<OpenChannel> {
    if (this.closed) throw this.closedError();
    const open = this.current;
    if (open && !open.isEnded && Date.now() - open.lastUsed < this.idle.reopenAfterMs) return open;
    if (open) this.drop(open);
    this.counts.opened++;
    const channel = new OpenChannel(await this.transport.openStream(this.argv));
    try {
      await channel.ask(promptModeCommands(this.idle.cliTimeoutS), this.timeoutMs);
    } catch (err) {
      void channel.close();
      if (!(err instanceof ChannelFailed)) throw err;
      // socat could not connect (no socket, permission): the exec path's error, from the same words.
      const stderr = err.end?.stderr ?? '';
      const hint = /Permission denied/.test(stderr)
        ? "the SSH user may not use the runtime socket: give it the socket's group " +
          '(`stats socket … mode 660 level admin group haproxy`, the user in group haproxy; ' +
          'README: Running as a deploy user)'
        : undefined;
      throw new ExternalCommandError(
        this.transport.host,
        this.argv,
        err.end?.code ?? null,
        [tail(stderr), err.message].filter(Boolean).join('\n'),
        undefined,
        false,
        hint,
      );
    }
    if (this.closed) {
      // Closed while this one was opening: nobody would close it later.
      void channel.close();
      throw this.closedError();
    }
    this.current = channel;
    return channel;
  }

  private closedError(): TransportError {
    return new TransportError(
      this.transport.host,
      `the haproxy runtime API channel to ${this.transport.host} was closed: the session has ended`,
    );
  }

  private drop(channel: OpenChannel): void {
    if (this.current === channel) this.current = undefined;
    void channel.close();
  }

  private lost(commands: readonly string[], err: ChannelFailed, reading: boolean): TransportError {
    return new TransportError(
      this.transport.host,
      `haproxy runtime API on ${this.transport.host}: ${err.message}` +
        ` while running \`${shortCommand([commands.join('; ')])}\``,
      reading
        ? 'check that haproxy runs and its socket answers (balancer.socket)'
        : 'the change may or may not have been applied: check the balancer with `baton status` before going on',
    );
  }
}

/** A channel that ended or timed out: the request in flight has no (complete) answer. */
class ChannelFailed extends Error {
  constructor(
    message: string,
    readonly end?: StreamEnd,
  ) {
    super(message);
  }
}

/** One open stream in prompt mode: writes the commands, reads until each one's answer has come. */
class OpenChannel {
  lastUsed = Date.now();
  private buffer = '';
  private waiting?: { count: number; resolve: (answers: string[]) => void; reject: (err: ChannelFailed) => void };

  constructor(private readonly stream: TransportStream) {
    stream.onData((chunk) => {
      this.buffer += chunk;
      this.deliver();
    });
    // Handled whether or not a request is waiting: a channel may die between requests.
    void stream.ended.then((end) => this.waiting?.reject(new ChannelFailed(describeEnd(end), end)));
  }

  get isEnded(): boolean {
    return this.stream.isEnded;
  }

  ask(commands: readonly string[], timeoutMs: number): Promise<string[]> {
    if (this.waiting) return Promise.reject(new Error('a runtime API channel answers one request at a time'));
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new ChannelFailed(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.lastUsed = Date.now();
      };
      this.waiting = {
        count: commands.length,
        resolve: (answers) => {
          settle();
          resolve(answers);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      };
      if (this.stream.isEnded)
        return void this.stream.ended.then((end) => this.waiting?.reject(new ChannelFailed(describeEnd(end), end)));
      // A line per command, all written at once: HAProxy answers them in order, each with its own
      // prompt, whether or not a version prompts once per `;`-separated command.
      this.stream.write(commands.map((c) => `${c}\n`).join(''));
    });
  }

  close(): Promise<void> {
    return this.stream.close();
  }

  private deliver(): void {
    if (!this.waiting) return;
    const taken = takePromptedAnswers(this.buffer, this.waiting.count);
    if (!taken) return;
    this.buffer = taken.rest;
    this.waiting.resolve(taken.answers);
  }
}

function describeEnd(end: StreamEnd): string {
  if (end.error !== undefined) return end.error;
  if (end.signal !== undefined) return `the channel's socat was killed by ${end.signal}`;
  const withCode = end.code === null ? '' : ` with ${end.code}`;
  const stderrTail = end.stderr ? `: ${tail(end.stderr, 3)}` : '';
  return `the channel's socat exited${withCode}${stderrTail}`;
}

/**
 * In prompt mode HAProxy ends every command's answer with an empty line and the prompt `> `.
 * Returns the first `count` answers, each cut as splitAnswers cuts it, and what follows them;
 * undefined while some have not fully arrived.
 */
export function takePromptedAnswers(buffer: string, count: number): { answers: string[]; rest: string } | undefined {
  const answers: string[] = [];
  let start = 0;
  while (answers.length < count) {
    const end = endOfAnswer(buffer, start);
    if (end === undefined) return undefined;
    answers.push(splitAnswers(buffer.slice(start, end + 1), 1)[0] as string);
    start = end + 3; // the empty line's "\n" and "> "
  }
  return { answers, rest: buffer.slice(start) };
}

/** Where the empty line that ends the answer starting at `start` is, when the prompt follows it. */
function endOfAnswer(buffer: string, start: number): number | undefined {
  for (let i = start; i < buffer.length; i = buffer.indexOf('\n', i) + 1 || buffer.length) {
    // `i` starts a line: an empty one followed by the prompt ends the answer.
    if (buffer[i] === '\n' && buffer.startsWith('> ', i + 1)) return i;
  }
  return undefined;
}
