// The one registry of step kinds' code: how a step of each kind runs and where it leaves hosts and
// members. What a kind is (its traits, the fields its steps carry) is data in src/model/step-kinds.ts.
import { BugError } from '../errors.js';
import type { Step, StepKind } from '../model/steps.js';
import type { StepTraits } from '../model/step-kinds.js';
import { activateKind } from './activate.js';
import { canaryKind, weighKind } from './canary.js';
import type { ExpectedState, StepKindSpec, StepRunEnv } from './kind.js';
import type { Progress } from './env.js';
import { lockKind, unlockKind } from './lock.js';
import { contractKind, expandKind, gateKind, reverseExpandKind } from './migrate.js';
import { drainKind, flipKind, readyKind, waitDrainKind } from './pool.js';
import { restoreConfigKind } from './restore-config.js';
import { smokeKind } from './smoke.js';
import { stageKind, unstageKind } from './stage.js';
import { watchKind } from './watch.js';

const SPECS: { [K in StepKind]: StepKindSpec<K> } = {
  lock: lockKind,
  unlock: unlockKind,
  stage: stageKind,
  unstage: unstageKind,
  drain: drainKind,
  'wait-drain': waitDrainKind,
  activate: activateKind,
  smoke: smokeKind,
  ready: readyKind,
  canary: canaryKind,
  weigh: weighKind,
  flip: flipKind,
  watch: watchKind,
  expand: expandKind,
  'reverse-expand': reverseExpandKind,
  gate: gateKind,
  contract: contractKind,
  'restore-config': restoreConfigKind,
};

/** A kind's code as the runner sees it: any step in, handed only ever to its own kind's entry. */
export interface AnyStepKindSpec extends StepTraits {
  kind: StepKind;
  run(step: Step, env: StepRunEnv, progress: Progress): Promise<unknown>;
  effect?(step: Step, state: ExpectedState): void;
}

/** The code of a step's kind. */
export function stepKind(kind: StepKind): AnyStepKindSpec {
  const spec = SPECS[kind];
  // Plans are checked for known kinds when read; a step that gets here would otherwise pass as done.
  if (!spec) throw new BugError(`no step kind ${JSON.stringify(kind)}`);
  // Each entry takes its own kind's steps, and SPECS[step.kind] is only given that step: the types
  // cannot say the two go together (a union of functions takes only what all of them take).
  return spec as unknown as AnyStepKindSpec;
}
