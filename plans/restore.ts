// Restore one app host from bare metal: out of the pool for the whole restore (the rest keep
// serving), its configuration put back from a snapshot, the release its cluster runs deployed from
// the tag as a push would, smoke-checked through the host itself, and back into the pool only
// when its cluster is in the pool. Nothing here returns a half-restored host to the pool: the
// drain has no undo, so a restore that fails leaves the host out and says so.
import type { Config } from '../src/config/config.js';
import { UserError } from '../src/errors.js';
import type { ObservedHost, ObservedState, Plan, Step } from '../src/model/plan.js';
import { planHooks, planOwner, sealPlan } from '../src/model/plan.js';
import type { Release } from '../src/model/release.js';
import { shortSha, type PlanArtifact } from '../src/model/artifact.js';
import { lockStep, unlockStep } from './blue-green.js';

export interface RestoreInput {
  config: Config;
  observed: ObservedState;
  host: string;
  /** The snapshot commit the configuration comes from. */
  snapshot: string;
  /** The release to deploy: the one the host's cluster runs. */
  release: Release;
  createdBy: string;
  /** The artifact built once (artifact: in baton.yml) the host is staged from. */
  artifact?: PlanArtifact;
  now?: Date;
}

/** The host being restored as the plan sees it: where it sits in the balancer, and how to name its cluster. */
interface Restoring {
  host: string;
  me: ObservedHost;
  /** `cluster a (internal name)`, for titles. */
  label: string;
}

export function buildRestorePlan(input: RestoreInput): Plan {
  const { config, observed, host, release } = input;
  const me = observed.hosts.find((h) => h.host === host);
  if (!me)
    throw new UserError(
      `${host} is not an app host of either cluster in ${config.file}`,
      'baton restore --run restores app hosts; for a balancer, follow the runbook (baton restore HOST)',
    );
  const c = me.cluster;
  const r: Restoring = { host, me, label: `cluster ${c} (${config.clusters[c].internal})` };
  const artifact = config.artifact ? input.artifact : undefined;
  if (config.artifact && !artifact)
    throw new UserError(
      `baton.yml builds each release once (artifact:), and no artifact of ${release.dir} was given to ` +
        `restore ${host} with`,
    );
  const forward: Step[] = [
    lockStep(config),
    ...drainSteps(r),
    {
      id: `restore-config-${host}`,
      kind: 'restore-config',
      title: `put back ${host}'s packages and configuration from snapshot ${input.snapshot.slice(0, 12)}`,
      hosts: [host],
      snapshot: input.snapshot,
      undo: [],
    },
    stageStep(host, release, artifact),
    ...activateAndSmoke(r, release),
    ...(returnsToPool(observed, r) ? [readyStep(r)] : []),
    unlockStep(),
  ];
  return sealPlan({
    kind: 'restore',
    ...planOwner(config),
    ...planHooks(config),
    release,
    ...(artifact ? { artifact } : {}),
    createdAt: (input.now ?? new Date()).toISOString(),
    createdBy: input.createdBy,
    observed,
    forward,
  });
}

/** The host switched to its cluster's release and checked, itself and through its cluster's internal name. */
function activateAndSmoke({ host, me, label }: Restoring, release: Release): Step[] {
  return [
    {
      id: `activate-${host}`,
      kind: 'activate',
      title: `switch ${host} to ${release.dir}, restart, wait for local health`,
      cluster: me.cluster,
      hosts: [host],
      releases: { [host]: release.dir },
      undo: [],
    },
    {
      id: `smoke-${host}`,
      kind: 'smoke',
      title: `smoke-check ${host} itself and ${label}`,
      cluster: me.cluster,
      hosts: [host],
      undo: [],
    },
  ];
}

/** Out of the pool for the whole restore, unless an operator already took it out (maint or drain). */
function drainSteps({ host, me, label }: Restoring): Step[] {
  if (me.memberState === 'maint' || me.memberState === 'drain') return [];
  return [
    {
      id: `drain-${host}`,
      kind: 'drain',
      title: `drain ${me.member} (${host}) of ${label}; it stays out until restored, also if the restore fails`,
      cluster: me.cluster,
      members: [me.member],
      undo: [],
    },
    {
      id: `wait-drain-${host}`,
      kind: 'wait-drain',
      title: `wait for in-flight requests on ${me.member} to finish`,
      cluster: me.cluster,
      members: [me.member],
      undo: [],
    },
  ];
}

/** The release put on the host: the artifact built once, its hash checked, else uploaded and built there. */
function stageStep(host: string, release: Release, artifact: PlanArtifact | undefined): Step {
  const releases = { [host]: release.dir };
  return artifact
    ? {
        id: `stage-${host}`,
        kind: 'stage',
        title:
          `stage the artifact of ${release.dir} (sha256 ${shortSha(artifact.sha256)}) on ${host}, ` +
          'its hash checked before unpacking',
        hosts: [host],
        releases,
        artifact: artifact.sha256,
        undo: [],
      }
    : {
        id: `stage-${host}`,
        kind: 'stage',
        title: `upload and build ${release.dir} on ${host}`,
        hosts: [host],
        releases,
        undo: [],
      };
}

/**
 * Back into the pool only with its cluster, and never from maintenance. In the pool by its admin
 * state even when its health checks fail (a wiped host is `down`): drained first, or the balancer
 * would send users to it the moment its service answers again.
 */
function returnsToPool(observed: ObservedState, { host, me }: Restoring): boolean {
  const adminInPool = (state: string) => state === 'ready' || state === 'down';
  const clusterInPool = observed.hosts.some(
    (h) => h.cluster === me.cluster && (h.host === host ? adminInPool(h.memberState) : h.memberState === 'ready'),
  );
  return clusterInPool && me.memberState !== 'maint';
}

/** Return the member to the pool; its undo takes it out again and waits for its requests. */
function readyStep({ host, me, label }: Restoring): Step {
  return {
    id: `ready-${host}`,
    kind: 'ready',
    title: `return ${me.member} (${host}) to the pool with the rest of ${label}`,
    cluster: me.cluster,
    members: [me.member],
    vouchHealthy: true,
    undo: [
      {
        id: `undo-ready-${host}`,
        kind: 'drain',
        title: `drain ${me.member} again`,
        cluster: me.cluster,
        members: [me.member],
        undo: [],
      },
      {
        id: `undo-ready-wait-${host}`,
        kind: 'wait-drain',
        title: `wait for in-flight requests on ${me.member} to finish`,
        cluster: me.cluster,
        members: [me.member],
        undo: [],
      },
    ],
  };
}
