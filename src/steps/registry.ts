// The one registry of step kinds' code: how a step of each kind runs and where it leaves hosts and
// members. What a kind is (its traits, the fields its steps carry) is data in src/model/step-kinds.ts.
import { BugError } from '../errors.js';
import type { StepKind } from '../model/plan.js';
import { activateKind } from './activate.js';
import type { StepKindSpec } from './kind.js';
import { lockKind, unlockKind } from './lock.js';
import { contractKind, expandKind, gateKind, reverseExpandKind } from './migrate.js';
import { drainKind, flipKind, readyKind, waitDrainKind } from './pool.js';
import { restoreConfigKind } from './restore-config.js';
import { smokeKind } from './smoke.js';
import { stageKind, unstageKind } from './stage.js';
import { watchKind } from './watch.js';

const SPECS: Record<StepKind, StepKindSpec> = {
  lock: lockKind,
  unlock: unlockKind,
  stage: stageKind,
  unstage: unstageKind,
  drain: drainKind,
  'wait-drain': waitDrainKind,
  activate: activateKind,
  smoke: smokeKind,
  ready: readyKind,
  flip: flipKind,
  watch: watchKind,
  expand: expandKind,
  'reverse-expand': reverseExpandKind,
  gate: gateKind,
  contract: contractKind,
  'restore-config': restoreConfigKind,
};

export function stepKind(kind: StepKind): StepKindSpec {
  const spec = SPECS[kind];
  // Plans are checked for known kinds when read; a step that gets here would otherwise pass as done.
  if (!spec) throw new BugError(`no step kind ${JSON.stringify(kind)}`);
  return spec;
}
