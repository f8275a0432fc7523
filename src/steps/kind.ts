// What a step kind is: one module per kind says what its steps carry, what running one does, how
// it is undone when it fails part-way, whether it changes production, and where it leaves hosts
// and members. The runner, the plan reader, rehearsals and renderers ask this, never a kind's name.
// Its traits are data (src/model/step-kinds.ts), so reading a plan loads none of this code.
import type { StepKind, StepOf } from '../model/steps.js';
import type { StepTraits } from '../model/step-kinds.js';
import type { Progress, StepEnv } from './env.js';

/** Where steps leave each host's release and each member's place in the pool (for rehearsals). */
export interface ExpectedState {
  release: Record<string, string | null>;
  memberState: Record<string, string>;
}

/** What a step runs with: the run's environment, and the releases that must survive pruning. */
export interface StepRunEnv extends StepEnv {
  /** Per host, releases the reverse plan switches back to: staging never prunes them. */
  wayBack: Record<string, string[]>;
  /**
   * Aborted when the run is asked to stop: steps that only wait end early (failing), so the reversal starts at once.
   */
  signal?: AbortSignal;
}

/** A kind's code, with its traits (src/model/step-kinds.ts) spread in: it gets its own kind's steps. */
export interface StepKindSpec<K extends StepKind = StepKind> extends StepTraits {
  kind: K;
  run(step: StepOf<K>, env: StepRunEnv, progress: Progress): Promise<unknown>;
  /** Where the step leaves hosts and members. */
  effect?(step: StepOf<K>, state: ExpectedState): void;
}
