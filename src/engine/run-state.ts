// What a run left behind, replayed from its journal: which steps completed, which one began and
// never ended (the pending operation a person or `resume` must decide about), and how it ended.
import type { JournalRecord } from './journal.js';

export interface RunState {
  run: string;
  command?: string;
  plan?: string;
  tag?: string;
  by?: string;
  /** `-e NAME` the run was made with (from run-begin); absent: baton.yml alone. */
  environment?: string;
  startedAt: string;
  endedAt?: string;
  outcome?: 'succeeded' | 'reversed' | 'needs-attention' | 'held';
  /** Forward steps that completed, in order. */
  completed: string[];
  /** Reverse (undo) steps that completed, in order. */
  reversed: string[];
  /** A step that began and never ended: the run was killed during it. */
  pending?: { step: string; phase: 'forward' | 'reverse'; title: string; since: string };
  /** The last step that failed, if any. */
  failed?: { step: string; phase: 'forward' | 'reverse'; error: string };
  reversing: boolean;
  /** The undo steps the reversal set out to run, newest first. */
  reversalSteps: string[];
  /** Steps the plan had, in order (from run-begin). */
  steps: string[];
}

export function replay(records: readonly JournalRecord[]): RunState {
  const first = records[0];
  const state: RunState = {
    run: first?.run ?? '',
    startedAt: first?.ts ?? '',
    completed: [],
    reversed: [],
    reversing: false,
    reversalSteps: [],
    steps: [],
  };
  for (const r of records) {
    switch (r.event) {
      case 'run-begin':
        Object.assign(state, {
          command: r.command,
          plan: r.plan,
          tag: r.tag,
          by: r.by,
          steps: r.steps,
          ...(typeof r.environment === 'string' && { environment: r.environment }),
        });
        break;
      case 'step-begin':
        state.pending = { step: r.step, phase: r.phase, title: r.title, since: r.ts };
        break;
      case 'step-ok':
        (r.phase === 'forward' ? state.completed : state.reversed).push(r.step);
        delete state.pending;
        break;
      case 'step-fail':
        state.failed = { step: r.step, phase: r.phase, error: r.error };
        delete state.pending;
        break;
      case 'reversal-begin':
        state.reversing = true;
        state.reversalSteps = r.steps;
        break;
      case 'run-end':
        state.outcome = r.outcome;
        state.endedAt = r.ts;
        break;
      case 'note':
      case 'sample': // traffic seen while the run lasted: no part of what the run did
        break;
    }
  }
  return state;
}

/** A run that neither ended nor was held: killed, or still going. */
export function isInterrupted(s: RunState): boolean {
  return s.outcome === undefined;
}
