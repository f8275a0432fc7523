// Deliveries handed over by a baton that is ending to a process of their own, so that a receiver slow to answer
// never holds the command back: node running deliver-in-background.js, detached (its own session: a Ctrl-C at the
// terminal does not reach it), its output ignored. What it is to deliver (URLs are often secrets) comes on its stdin
// as one JSON document, never in its arguments or environment, where `ps` and /proc would show it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One delivery to finish: what is left of its attempts, on the same schedule, by its deadline. */
export interface HandedOverPost {
  url: string;
  body: unknown;
  attempts: number;
  attemptMs: number;
  pauseMs: number;
  /** Attempts that already failed: the next one is the attempt after them, after its pause. */
  failedBefore: number;
  /** Epoch milliseconds: given up then, wherever it stands. */
  deadline: number;
}

export interface HandOverDocument {
  v: 1;
  posts: readonly HandedOverPost[];
}

/** The entry, relative to the package's root (tsc writes it there; the package ships dist/src). */
const ENTRY = join('dist', 'src', 'transport', 'deliver-in-background.js');

/** The background entry of this installation, found from this module (in src/, dist/src/ or dist/cli/). */
export function backgroundEntry(from = fileURLToPath(import.meta.url)): string | undefined {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, ENTRY))) return join(dir, ENTRY);
    if (dirname(dir) === dir) return undefined;
  }
}

export interface BackgroundPosts {
  pid: number;
  /** Settles once the document is written to the process's stdin (or the pipe broke). */
  written: Promise<void>;
}

/**
 * Start the process that finishes these deliveries and write them to its stdin. Synchronous up to the write, which a
 * pipe takes at once for a document under its buffer (64 KiB): a process exiting right after still hands them over.
 * Throws when the process cannot start.
 */
export function postInBackground(posts: readonly HandedOverPost[], entry = backgroundEntry()): BackgroundPosts {
  if (!entry) throw new Error(`${ENTRY} is missing (run npm run build)`);
  const child = spawn(process.execPath, [entry], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    // Not the folder baton ran in: it may be removed while the process still delivers.
    cwd: '/',
  });
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined || !child.stdin) throw new Error('the background process did not start');
  const stdin = child.stdin;
  const written = new Promise<void>((resolve) => {
    stdin.on('error', () => resolve());
    stdin.end(JSON.stringify({ v: 1, posts } satisfies HandOverDocument), () => resolve());
  });
  return { pid: child.pid, written };
}

/** The document read on stdin, checked: posts that are not whole are dropped. */
export function readHandOver(text: string): HandedOverPost[] {
  const doc = JSON.parse(text) as Partial<HandOverDocument>;
  if (doc?.v !== 1 || !Array.isArray(doc.posts)) return [];
  return doc.posts.filter(
    (p): p is HandedOverPost =>
      typeof p?.url === 'string' &&
      [p.attempts, p.attemptMs, p.pauseMs, p.failedBefore, p.deadline].every((n) => Number.isFinite(n)),
  );
}
