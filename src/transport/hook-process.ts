// A hook's process on the machine running baton: a command line run with sh -c, or argv run
// without a shell; the run's facts come in its environment and the event as JSON on stdin, never
// in the command. It runs in a process group of its own so that a time limit kills all of it (a
// script's children too), and only the tail of its output is kept: a chatty hook cannot fill a journal.
import { loadExeca } from '../lazy-modules.js';

/** Output kept of a hook: its last lines, each cut to a length, and no more than this many bytes read back. */
export const HOOK_OUTPUT_LIMITS = { lines: 40, lineChars: 300, bytes: 64 * 1024 };
/** How long a hook gets between SIGTERM and SIGKILL once its time is up. */
const KILL_GRACE_MS = 1_000;

export interface HookProcess {
  /** A command line (sh -c) or a program and its arguments (no shell). */
  run: string | readonly string[];
  cwd: string;
  /** Its whole environment (nothing else is inherited). */
  env: Record<string, string>;
  /** Written to its stdin, then stdin is closed. */
  input: string;
  timeoutMs: number;
}

export interface HookOutcome {
  /** Its exit code; null when it was killed or could not start. */
  exitCode: number | null;
  timedOut: boolean;
  /** Why it could not start (a program not found, not executable). */
  startError?: string;
  ms: number;
  /** The last lines of its stdout and stderr, interleaved as written. */
  output: string[];
  /** Lines read and not kept. */
  droppedLines: number;
}

/** The hook ran and exited 0. */
export function hookSucceeded(o: HookOutcome): boolean {
  return o.exitCode === 0 && !o.timedOut;
}

/** "exit 3", "timed out after 2s", "could not start: …": what became of a hook, in a few words. */
export function describeHookOutcome(o: HookOutcome, timeoutMs: number): string {
  if (o.timedOut) return `timed out after ${(timeoutMs / 1000).toFixed(1)} s (its process group was killed)`;
  if (o.startError) return `could not start: ${o.startError}`;
  return o.exitCode === null ? 'was killed' : `exit ${o.exitCode}`;
}

export async function runHookProcess(p: HookProcess): Promise<HookOutcome> {
  const [file, ...args] = typeof p.run === 'string' ? ['/bin/sh', '-c', p.run] : p.run;
  if (!file) throw new TypeError('a hook needs a program to run');
  const started = Date.now();
  const execa = await loadExeca();
  const child = execa(file, args, {
    cwd: p.cwd,
    env: p.env,
    extendEnv: false,
    input: p.input,
    all: true,
    buffer: false,
    reject: false,
    // Its own process group: the time limit reaches every process it started, and a stop
    // signal meant for baton (Ctrl-C) is baton's to handle, not the hook's.
    detached: true,
    encoding: 'utf8',
  });
  const kept = new OutputTail();
  child.all?.on('data', (chunk: Buffer | string) => kept.add(String(chunk)));
  let timedOut = false;
  let grace: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, 'SIGTERM');
    grace = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
  }, p.timeoutMs);
  try {
    const r = await child;
    const startError =
      r.exitCode === undefined && !r.signal && !timedOut ? (r.originalMessage ?? r.shortMessage) : undefined;
    const { lines, dropped } = kept.lines();
    return {
      exitCode: r.exitCode ?? null,
      timedOut,
      ...(startError ? { startError } : {}),
      ms: Date.now() - started,
      output: lines,
      droppedLines: dropped,
    };
  } finally {
    clearTimeout(timer);
    if (grace) clearTimeout(grace);
    // Whatever it left running in its group (a daemon it forked) does not outlive its time.
    if (timedOut) killGroup(child.pid, 'SIGKILL');
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** The last bytes of a stream of text, as whole lines. */
class OutputTail {
  private text = '';
  private droppedLines = 0;

  add(chunk: string): void {
    this.text += chunk;
    const over = this.text.length - HOOK_OUTPUT_LIMITS.bytes;
    if (over <= 0) return;
    // Cut at a line end, so the first line kept is whole.
    const cut = this.text.indexOf('\n', over);
    const at = cut < 0 ? over : cut + 1;
    this.droppedLines += countLines(this.text.slice(0, at));
    this.text = this.text.slice(at);
  }

  lines(): { lines: string[]; dropped: number } {
    const all = this.text.split('\n');
    if (all.at(-1) === '') all.pop();
    const keep = all.slice(-HOOK_OUTPUT_LIMITS.lines);
    const cut = (l: string) =>
      l.length > HOOK_OUTPUT_LIMITS.lineChars ? `${l.slice(0, HOOK_OUTPUT_LIMITS.lineChars)}…` : l;
    return { lines: keep.map((l) => cut(l.replace(/\r$/, ''))), dropped: this.droppedLines + all.length - keep.length };
  }
}

function countLines(text: string): number {
  let n = 0;
  for (const c of text) if (c === '\n') n++;
  return n;
}
