// `status --watch`: the status view read again and again until Ctrl-C, for watching a run go by
// (its steps, each cluster's members and in-flight sessions, the lock) from another terminal.
import { abortableSleep } from '../engine/interrupts.js';

export interface WatchOptions {
  /** One round: read production and render it; resolves to the text and its exit code. */
  round: () => Promise<{ text: string; exitCode: number }>;
  print: (frame: string) => void;
  everyMs: number;
  /** Ends the watch (Ctrl-C): a sleep is cut short, a round under way finishes first. */
  signal: AbortSignal;
  /** On a terminal each frame replaces the last; elsewhere frames follow each other. */
  tty: boolean;
  now?: () => Date;
}

const CLEAR = '\u001b[H\u001b[2J';

/** Rounds until the signal; resolves to the last round's exit code (0 when it read everything). */
export async function watchStatus(opts: WatchOptions): Promise<number> {
  const now = opts.now ?? (() => new Date());
  let exitCode = 0;
  while (!opts.signal.aborted) {
    const r = await opts.round();
    exitCode = r.exitCode;
    const stamp = `${now().toISOString().slice(11, 19)} UTC · every ${opts.everyMs / 1000}s · Ctrl-C to stop`;
    opts.print(opts.tty ? `${CLEAR}${r.text}\n\n${stamp}` : `--- ${stamp}\n${r.text}\n`);
    await abortableSleep(opts.everyMs, opts.signal).catch(() => undefined);
  }
  return exitCode;
}
