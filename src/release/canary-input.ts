// What a push's canary is planned with: baton.yml's canary (after --canary / --no-canary), what
// the balancer can weigh, whether it counts 5xx per member, and every member's weight now.
import type { Balancer } from '../balancers/types.js';
import type { Config } from '../config/config.js';
import type { CanaryInput } from '../model/canary.js';
import { planQueries } from '../model/canary-query.js';

export async function canaryInput(config: Config, balancer: Balancer): Promise<{ canary?: CanaryInput }> {
  if (!config.canary) return {};
  const weighing = balancer.weighing();
  const { query, ...thresholds } = config.canary.analysis;
  const queries = planQueries(query);
  return {
    canary: {
      steps: config.canary.steps.map((s) => ({ weight: s.weight, forMs: s.for })),
      analysis: { ...thresholds, ...(queries ? { queries } : {}) },
      weighing,
      scope: balancer.memberCounters ? 'members' : 'backend',
      countsAttempts: balancer.countsFailedAttempts === true,
      // Read only where weights exist: the planner refuses the rest with the driver's reason.
      weights: weighing.can ? await balancer.weights() : {},
    },
  };
}
