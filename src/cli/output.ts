// Output is best-effort: a closed pipe (`baton push | head`) or a cancelled CI log must never stop
// a run. The journal, not the terminal, is the record.
const ignore = () => undefined;

function safeWrite(stream: NodeJS.WriteStream, text: string): void {
  if (stream.destroyed || !stream.writable) return;
  try {
    stream.write(text, ignore);
  } catch {
    // EPIPE thrown synchronously: the reader is gone; nothing to tell it.
  }
}

/** One line to stderr (a newline is added). */
export function writeErr(line: string): void {
  safeWrite(process.stderr, `${line}\n`);
}

/** Text to stdout, as is. */
export function writeOut(text: string): void {
  safeWrite(process.stdout, text);
}
