// A long-lived exec channel as a TransportStream: stdin and stdout stay open for many round trips
// (HAProxy's runtime API in prompt mode) instead of one channel per command.
import type { ClientChannel } from 'ssh2';
import { shortCommand } from '../errors.js';
import { tail } from './errors.js';
import { onceLost, type Connection } from './ssh-connection.js';
import type { StreamEnd, TransportStream } from './types.js';

/** How long a stream's command gets to exit after its stdin closed, before the channel is closed under it. */
const STREAM_CLOSE_GRACE_MS = 1_000;

/** How a stream ended: its exit, or why there is none (an error seen, or the channel lost without one). */
function streamEnd(
  exit: { code: number | null; signal?: string } | undefined,
  error: string | undefined,
  stderr: string,
  lost: () => string,
): StreamEnd {
  const code = exit?.code ?? null;
  const why = error ?? (code === null && !exit?.signal ? lost() : undefined);
  return {
    code,
    ...(exit?.signal ? { signal: exit.signal } : {}),
    ...(why !== undefined ? { error: why } : {}),
    stderr,
  };
}

function lostChannel(host: string, argv: readonly string[], c: Connection): string {
  const why = c.alive ? 'closed' : (c.lostBecause ?? 'closed');
  return `lost the channel to ${host} running \`${shortCommand(argv)}\`: ${why}`;
}

/**
 * Wrap an open exec channel. `exitOf` gives the exit status ssh2 reported for it; `done` is told
 * once when the channel has gone (to give its slot back).
 */
export function channelStream(
  host: string,
  argv: readonly string[],
  channel: ClientChannel,
  c: Connection,
  exitOf: () => { code: number | null; signal?: string } | undefined,
  done: () => void,
): TransportStream {
  let stderr = '';
  let isEnded = false;
  let listener: (chunk: string) => void = () => undefined;
  let settle: (e: StreamEnd) => void = () => undefined;
  const ended = new Promise<StreamEnd>((resolve) => (settle = resolve));
  const finish = (error?: string): void => {
    if (isEnded) return;
    isEnded = true;
    forget();
    done();
    settle(streamEnd(exitOf(), error, stderr, () => lostChannel(host, argv, c)));
  };
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) => listener(chunk));
  channel.stderr.on('data', (chunk: Buffer) => void (stderr = tail(stderr + chunk.toString('utf8'))));
  // An 'error' without a listener would crash the process; the close that follows ends the stream.
  channel.on('error', (err: Error) =>
    finish(`channel to ${host} running \`${shortCommand(argv)}\` failed: ${err.message}`),
  );
  channel.on('close', () => finish());
  // A connection that dies can take the channel without a close event.
  const forget = onceLost(c, () => finish());
  return {
    write: (data) => {
      if (!isEnded) channel.write(data);
    },
    onData: (fn) => void (listener = fn),
    ended,
    get isEnded() {
      return isEnded;
    },
    close: async () => {
      if (isEnded) return;
      channel.end();
      const hardClose = setTimeout(() => channel.close(), STREAM_CLOSE_GRACE_MS);
      await ended;
      clearTimeout(hardClose);
    },
  };
}
