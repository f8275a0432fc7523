// The journal is the source of truth for what a run did: one JSON line per event, flushed to
// disk before the next step starts, so a run killed at any point can be resumed or reversed.
import {
  appendFileSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  existsSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { scopedToEnvironment } from '../config/environment.js';
import type { MemberSample } from './traffic.js';

export type JournalEvent =
  | {
      event: 'run-begin';
      command: string;
      plan: string;
      tag: string;
      by: string;
      steps: string[];
      /** `-e NAME`; absent: baton.yml alone */ environment?: string;
    }
  | { event: 'step-begin'; step: string; kind: string; title: string; phase: 'forward' | 'reverse' }
  | { event: 'step-ok'; step: string; phase: 'forward' | 'reverse'; ms: number; changed?: unknown }
  | {
      event: 'step-fail';
      step: string;
      phase: 'forward' | 'reverse';
      ms: number;
      error: string;
      /** What the step had found when it failed, where it says (a canary's verdict and counts). */
      found?: Record<string, unknown>;
    }
  | { event: 'reversal-begin'; reason: string; steps: string[] }
  | { event: 'run-end'; outcome: 'succeeded' | 'reversed' | 'needs-attention' | 'held'; ms: number }
  | { event: 'note'; message: string }
  // A look at the balancer while the run lasts (a TrafficSample without `at`: the record's `ts`,
  // stamped as the sample lands, is its time). Replays of the run's state skip it.
  | {
      event: 'sample';
      members: MemberSample[];
      requests?: number;
      http5xx?: number;
      /** members whose state differs between balancers (balancer.peers) */ divergent?: string[];
    };

export type JournalRecord = JournalEvent & { ts: string; run: string };

export class Journal {
  readonly file: string;
  private readonly listeners: (() => void)[] = [];

  constructor(
    dir: string,
    readonly runId: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${runId}.jsonl`);
    // A line cut short by a kill must not swallow the next one: it is ended before anything is added.
    if (!endsWithNewline(this.file)) appendFileSync(this.file, '\n');
  }

  /** Called after every line is on disk (the run record mirrors them). */
  onAppend(listener: () => void): void {
    this.listeners.push(listener);
  }

  append(event: JournalEvent): void {
    const fd = openSync(this.file, 'a');
    try {
      appendFileSync(fd, `${JSON.stringify({ ts: new Date().toISOString(), run: this.runId, ...event })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    for (const listener of this.listeners) listener();
  }
}

/** True for a missing or empty file too: nothing to end. */
function endsWithNewline(file: string): boolean {
  if (!existsSync(file)) return true;
  const size = statSync(file).size;
  if (size === 0) return true;
  const fd = openSync(file, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

/** A new run id: sortable by time to the millisecond (two runs can start within a second, and
 *  resume/rollback find "the newest" by name), then a random part for uniqueness. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '')}-${Math.random().toString(36).slice(2, 8)}`;
}

export function readJournal(file: string): JournalRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as JournalRecord];
      } catch {
        return []; // a line cut short by a kill is ignored; the step before it stands
      }
    });
}

/** Journal files in a folder, oldest first. */
export function listJournals(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => join(dir, f));
}

/** Whose local runs: a config (its folder and environment), or a folder alone (no environment). */
export type RunsOf = string | Pick<Config, 'dir' | 'environment'>;

/** Where journals live for a config: beside baton.yml, in .baton/journal (.baton/journal-<environment>). */
export function journalDir(of: RunsOf): string {
  return localStateDir(of, 'journal');
}

/** A folder of local state beside baton.yml, `.baton/<what>`, one per environment (`.baton/<what>-<environment>`). */
export function localStateDir(of: RunsOf, what: string): string {
  const { dir, environment } = typeof of === 'string' ? { dir: of, environment: undefined } : of;
  return join(dir, '.baton', scopedToEnvironment(what, environment));
}
