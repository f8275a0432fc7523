// The step runner a run hands each step to: its kind's module carries it out.
import type { Step } from '../model/plan.js';
import { reverseSteps } from '../model/plan.js';
import type { Progress, StepEnv } from './env.js';
import { stepKind } from './registry.js';

export function stepRunner(env: StepEnv, plan: { forward: readonly Step[] }) {
  // Releases the undo steps would switch back to must survive pruning (done while staging).
  const wayBack: Record<string, string[]> = {};
  for (const s of reverseSteps(plan.forward)) {
    if (!stepKind(s.kind).changesProduction || !s.releases) continue;
    for (const [host, dir] of Object.entries(s.releases)) (wayBack[host] ??= []).push(dir);
  }
  return (step: Step, progress: Progress, signal?: AbortSignal): Promise<unknown> =>
    stepKind(step.kind).run(step, { ...env, wayBack, ...(signal ? { signal } : {}) }, progress);
}
