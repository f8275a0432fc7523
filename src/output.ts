// Best-effort process output. A reader that went away (`baton push v1 2>&1 | head -2`, a closed
// terminal, a full log disk) must never stop a run half-way: a push cut off between two balancer
// changes is worse than a log cut short. So no write to stdout or stderr may throw into its caller
// or end the process.

import { forTerminal } from './control-characters.js';

/** Error codes that mean "nobody reads this stream any more". */
const CLOSED_PIPE_CODES = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** True for the error a write to a closed pipe or an already destroyed stream ends with. */
export function isClosedPipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && CLOSED_PIPE_CODES.has(String((err as { code?: unknown }).code));
}

/** Writes text to stdout, without control characters (JSON has none: it escapes them); never throws. */
export function writeOut(text: string): void {
  write(process.stdout, forTerminal(text));
}

/** Writes one line (a newline is added) to stderr, without control characters; never throws. */
export function writeErr(line: string): void {
  write(process.stderr, `${forTerminal(line)}\n`);
}

function write(stream: NodeJS.WriteStream, text: string): void {
  guardStdio();
  try {
    stream.write(text);
  } catch {
    // A file's error (ENOSPC) is thrown right here; a pipe's comes later as an event (see guardStdio).
  }
}

let guarded = false;

/** Keeps an error on stdout or stderr from becoming an uncaught exception: Node emits a pipe's
 *  EPIPE as an 'error' event on the stream, and with no listener that ends the process. oclif
 *  listens on stdout only. bin/run.js calls this first thing; the writers above call it too. */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}
