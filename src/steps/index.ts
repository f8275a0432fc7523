// One runner per step kind; the executor hands each step here.
import { BugError } from '../errors.js';
import type { Step } from '../model/plan.js';
import { reverseSteps } from '../model/plan.js';
import { runActivate } from './activate.js';
import type { Progress, StepEnv } from './env.js';
import { runLock, runUnlock } from './lock.js';
import { runDrain, runFlip, runReady, runWaitDrain } from './pool.js';
import { runSmokeStep } from './smoke.js';
import { runStage, runUnstage } from './stage.js';
import { runWatch } from './watch.js';

export function stepRunner(env: StepEnv, plan: { forward: readonly Step[] }) {
  // Releases the undo steps would switch back to must survive pruning (done while staging).
  const wayBack: Record<string, string[]> = {};
  for (const s of reverseSteps(plan.forward)) {
    if (s.kind !== 'activate') continue;
    for (const [host, dir] of Object.entries(s.releases ?? {})) (wayBack[host] ??= []).push(dir);
  }
  return async (step: Step, progress: Progress): Promise<unknown> => {
    switch (step.kind) {
      case 'lock':
        return runLock(env);
      case 'unlock':
        return runUnlock(env);
      case 'stage':
        return runStage(step, env, progress, wayBack);
      case 'unstage':
        return runUnstage(step, env);
      case 'drain':
        return runDrain(step, env);
      case 'wait-drain':
        return runWaitDrain(step, env, progress);
      case 'activate':
        return runActivate(step, env, progress);
      case 'smoke':
        return runSmokeStep(step, env);
      case 'ready':
        return runReady(step, env, progress);
      case 'flip':
        return runFlip(step, env, progress);
      case 'watch':
        return runWatch(env, progress);
      default:
        // Plans are checked for known kinds when read; a step that gets here would otherwise pass as done.
        throw new BugError(`no runner for step kind ${JSON.stringify((step as Step).kind)} (step ${(step as Step).id})`);
    }
  };
}
