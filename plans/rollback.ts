// Rollback: converge production on the releases that ran before, with the push's own drain /
// smoke / flip discipline. Clusters out of the pool go first; a cluster already on its target
// and in the pool is left alone — when one is (a held or interrupted push), the rollback is
// warm: draining the other side puts all traffic back on the old release in one balancer change.
import type { ClusterId, Config } from '../src/config/config.js';
import type { ObservedHost, ObservedState, Plan, Step } from '../src/model/plan.js';
import { planHooks, planOwner, sealPlan } from '../src/model/plan.js';
import { stepIs } from '../src/model/step-kinds.js';
import { releaseOfDir } from '../src/model/release.js';
import { clusterSteps, describeReleases, flipsInOneChange, lockStep, unlockStep, withFlip } from './blue-green.js';

export interface RollbackInput {
  config: Config;
  observed: ObservedState;
  /** The release each host returns to. */
  targets: Record<string, string>;
  /** Members that belong in the pool at the end (default: those in it now, and those a push drained). */
  poolAfter?: string[];
  createdBy: string;
  now?: Date;
}

export interface RollbackPlan extends Plan {
  /** Some cluster already serves the target releases: traffic returns with one balancer change. */
  warm: boolean;
  /** Clusters that need no work. */
  untouched: ClusterId[];
}

export function buildRollbackPlan(input: RollbackInput): RollbackPlan {
  const { config, observed, targets } = input;
  const hostsOf = (c: ClusterId) => observed.hosts.filter((h) => h.cluster === c);
  const inPool = (hs: ObservedHost[]) =>
    hs.every(
      (h) =>
        h.memberState === 'ready' ||
        (input.poolAfter ? !input.poolAfter.includes(h.member) : h.memberState === 'maint'),
    );
  const atTarget = (hs: ObservedHost[]) => hs.every((h) => !targets[h.host] || h.release === targets[h.host]);
  const clusters: ClusterId[] = ['a', 'b'];
  const done = clusters.filter((c) => inPool(hostsOf(c)) && atTarget(hostsOf(c)));
  const todo = clusters
    .filter((c) => !done.includes(c))
    .sort((x, y) => Number(inPool(hostsOf(x))) - Number(inPool(hostsOf(y))));

  const forward: Step[] = [];
  if (todo.length) {
    forward.push(lockStep(config));
    let perCluster = todo.map((c) => {
      const hosts = hostsOf(c);
      const needSwitch = Object.fromEntries(
        hosts
          .filter((h) => targets[h.host] && h.release !== targets[h.host])
          .map((h) => [h.host, targets[h.host] as string]),
      );
      // Hosts already on their target keep running: no restart for nothing.
      const pool = hosts
        .filter((h) => (input.poolAfter ? input.poolAfter.includes(h.member) : h.memberState !== 'maint'))
        .map((h) => h.member);
      return clusterSteps(c, hosts, needSwitch, config, pool).filter(
        (s) => !stepIs(s, 'switchesRelease') || Object.keys(s.releases ?? {}).length,
      );
    });
    // nginx: the first cluster's return and the second's drain in one reload, as in a push.
    if (perCluster.length === 2 && flipsInOneChange(config.balancer.driver))
      perCluster = withFlip(perCluster[0] as Step[], perCluster[1] as Step[], config);
    forward.push(...perCluster.flat());
    forward.push(unlockStep());
  }
  const values = Object.values(targets);
  const main = mostCommon(values) ?? '';
  const plan = sealPlan({
    kind: 'rollback',
    ...planOwner(config),
    ...planHooks(config),
    release: releaseOfDir(main),
    createdAt: (input.now ?? new Date()).toISOString(),
    createdBy: input.createdBy,
    observed,
    forward,
  });
  return { ...plan, warm: done.length > 0 && todo.length > 0, untouched: done };
}

/** One line for the operator: where the rollback goes and how. */
export function describeRollback(p: RollbackPlan, targets: Record<string, string>): string {
  if (!p.forward.length)
    return `nothing to roll back: every host already runs ${describeReleases(targets)} and is in the pool`;
  const how = p.warm
    ? ` (cluster ${p.untouched.join(', ')} still serves it: traffic moves back with one balancer change)`
    : ' (no cluster runs it now: cluster by cluster, with drain, smoke and flip)';
  return `${p.warm ? 'warm' : 'cold'} rollback to ${describeReleases(targets)}${how}`;
}

function mostCommon(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}
