// What a step kind is: one module per kind says what its steps carry, what running one does, how
// it is undone when it fails part-way, whether it changes production, and where it leaves hosts
// and members. The runner, the plan reader, rehearsals and renderers ask this, never a kind's name.
import type { Step, StepKind } from '../model/plan.js';
import type { Progress, StepEnv } from './env.js';

/** Fields a step may carry besides id, kind, title and undo. */
export type StepField = 'cluster' | 'hosts' | 'members' | 'readyMembers' | 'releases' | 'snapshot';

/** Where steps leave each host's release and each member's place in the pool (for rehearsals). */
export interface ExpectedState {
  release: Record<string, string | null>;
  memberState: Record<string, string>;
}

/** What a step runs with: the run's environment, and the releases that must survive pruning. */
export interface StepRunEnv extends StepEnv {
  /** Per host, releases the reverse plan switches back to: staging never prunes them. */
  wayBack: Record<string, string[]>;
  /** Aborted when the run is asked to stop: steps that only wait end early (failing), so the reversal starts at once. */
  signal?: AbortSignal;
}

/** What the runner must know of any step kind, push or DNS migration. */
export interface StepTraits {
  /** Fields every step of this kind must carry (checked when a plan is built or read). */
  requires: readonly StepField[];
  /** Carrying it out changes what production serves or who serves it (the pool, a host's current release, a public record). */
  changesProduction: boolean;
  /** A failure part-way may have changed something: its own undo runs too, not only earlier steps'. */
  undoWhenFailed: boolean;
}

export interface StepKindSpec extends StepTraits {
  kind: StepKind;
  /** Puts a cluster back into public service: `push --hold` stops after the first one (and its watch). */
  returnsToPool?: boolean;
  /** Only observes (a watch after a flip): `push --hold` keeps it with the flip it follows. */
  followsReturn?: boolean;
  /** Left out of an idle-side rehearsal (it would put the new release in front of users, or end the lock early). */
  skipWhenRehearsingIdleSide?: boolean;
  /** Acts on what both clusters share (the database), from one host: a rehearsal on one side runs it whole, never narrowed to that side's hosts. */
  sharedByClusters?: boolean;
  /** Uploads the release archive: a run that has it still to do needs the tag exported first. */
  needsArtifact?: boolean;
  run(step: Step, env: StepRunEnv, progress: Progress): Promise<unknown>;
  /** Where the step leaves hosts and members. */
  effect?(step: Step, state: ExpectedState): void;
}
