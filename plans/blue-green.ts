// The blue/green push: one cluster at a time drain, wait, activate, smoke-check through its
// internal name, and return it to the pool. The release is staged on every host right after
// the first drain begins, so the upload and build overlap the wait for in-flight requests.
// Every step carries its undo, so a failure anywhere unwinds with one cluster always serving.
// With `migrate` in baton.yml the release is staged first, the schema expanded and the release
// still serving checked on it, all before the first drain (the contract is plans/contract.ts).
// A cluster that already runs and serves the release is left alone (plans/up-to-date.ts), unless
// forced; when both do, the plan has no step at all: "No changes".
import type { ClusterId, Config } from '../src/config/config.js';
import type { ObservedHost, ObservedState, Plan, PlanForced, Step, StepOf } from '../src/model/plan.js';
import { planHooks, planOwner, sealPlan } from '../src/model/plan.js';
import { stepIs } from '../src/model/step-kinds.js';
import type { Release } from '../src/model/release.js';
import { shortSha, type PlanArtifact } from '../src/model/artifact.js';
import { UserError } from '../src/errors.js';
import { formatDuration } from '../src/config/duration.js';
import { clustersServing } from './up-to-date.js';
import { canarySteps } from './canary.js';
import type { CanaryInput, PlanCanary } from '../src/model/canary.js';

export interface BlueGreenInput {
  config: Config;
  observed: ObservedState;
  release: Release;
  createdBy: string;
  /** Cluster that goes first (default a). */
  first?: ClusterId;
  /** The push stops once the first cluster is back (`push --hold`): both clusters stay in the pool. */
  hold?: boolean;
  /**
   * The artifact built once for the release (artifact: in baton.yml): recorded in the plan, and what its stage step
   * uploads.
   */
  artifact?: PlanArtifact;
  /** `--force REASON`: push every cluster, also one that already runs and serves the release (recorded in the plan). */
  forced?: PlanForced;
  /**
   * Canary steps for the first cluster (canary: in baton.yml or `push --canary`), with what the balancer can weigh and
   * count.
   */
  canary?: CanaryInput;
  now?: Date;
}

/**
 * Drivers for which every pool change costs something: nginx reloads, and each reload resets
 * requests racing its old workers' exit. Their plans return the first cluster and drain the
 * second in one change (a flip), three changes a push instead of four.
 */
export function flipsInOneChange(driver: Config['balancer']['driver']): boolean {
  return driver === 'nginx';
}

export function buildBlueGreenPlan(input: BlueGreenInput): Plan {
  const { config, observed, release } = input;
  const first = input.first ?? 'a';
  // Unless forced, a cluster already serving the release is left alone: no drain, no restart.
  const serving = input.forced ? [] : clustersServing(observed, release);
  const order = (first === 'a' ? ['a', 'b'] : ['b', 'a']).filter(
    (c) => !serving.includes(c as ClusterId),
  ) as ClusterId[];
  const header = {
    ...planOwner(config),
    ...planHooks(config),
    release,
    createdAt: (input.now ?? new Date()).toISOString(),
    createdBy: input.createdBy,
    observed,
    ...(input.forced ? { forced: input.forced } : {}),
  };
  if (!order.length) return sealPlan({ ...header, forward: [] });
  const hostsOf = (c: ClusterId) => observed.hosts.filter((h) => h.cluster === c);
  checkCapacity(order, hostsOf);
  const newRelease = Object.fromEntries(order.flatMap(hostsOf).map((h) => [h.host, release.dir]));
  let perCluster = order.map((c) => clusterSteps(c, hostsOf(c), newRelease, config));
  // A canary compares the first cluster with the other, still on the release before: with only one pushed, there is
  // none.
  const canary = input.canary && order.length === 2 ? withCanary(perCluster, hostsOf, input.canary, config) : undefined;
  if (canary) perCluster = canary.perCluster;
  else if (perCluster.length === 2 && flipsInOneChange(config.balancer.driver) && !input.hold)
    perCluster = withFlip(perCluster[0] as Step[], perCluster[1] as Step[], config);
  const [firstSteps, ...laterSteps] = perCluster as [Step[], ...Step[][]];
  const stage = stageStep(config, observed.hosts, release, input.artifact);
  const lock = lockStep(config);
  const unlock = unlockStep();
  const forward: Step[] = config.migrate
    ? // The schema is expanded while both clusters serve the old release, which must still pass its checks on it before
      // anything drains.
      [lock, ...stage, ...migrationSteps(config, observed, release), ...firstSteps, ...laterSteps.flat(), unlock]
    : [
        lock,
        // drain, stage, then wait: staging needs no drain, but doing it while requests finish saves the time.
        firstSteps[0] as Step,
        ...stage,
        ...firstSteps.slice(1),
        ...laterSteps.flat(),
        unlock,
      ];
  // The artifact is part of the plan only where something is staged: a plan that stages nothing deploys no bytes.
  const artifact = stage.length && config.artifact ? { artifact: input.artifact as PlanArtifact } : {};
  return sealPlan({ ...header, ...artifact, ...(canary ? { canary: canary.record } : {}), forward });
}

/**
 * The first cluster's return to the pool made canary steps, the other cluster's members in the pool the stable side.
 */
function withCanary(
  perCluster: Step[][],
  hostsOf: (c: ClusterId) => ObservedHost[],
  input: CanaryInput,
  config: Config,
): { perCluster: Step[][]; record: PlanCanary } {
  const [first, ...rest] = perCluster as [Step[], ...Step[][]];
  const ready = first.find((s) => stepIs(s, 'returnsToPool')) as StepOf<'ready'>;
  const other: ClusterId = ready.cluster === 'a' ? 'b' : 'a';
  const stable = hostsOf(other)
    .filter((h) => h.memberState === 'ready')
    .map((h) => h.member);
  const { steps, record } = canarySteps(ready, stable, input, config);
  return { perCluster: [first.flatMap((s) => (s === ready ? steps : [s])), ...rest], record };
}

/**
 * Upload and build the release on every host that does not run it yet (none or one step); a host
 * whose `current` is the release has its directory already, and building again in the directory
 * it serves from would gain nothing.
 */
function stageStep(
  config: Config,
  hosts: ObservedHost[],
  release: Release,
  artifact: PlanArtifact | undefined,
): Step[] {
  const staged = hosts.filter((h) => h.release !== release.dir).map((h) => h.host);
  if (!staged.length) return [];
  if (config.artifact && !artifact) {
    throw new UserError(
      `baton.yml builds each release once (artifact:), and no artifact of ${release.dir} was given to plan with`,
      'make the plan with `baton plan TAG`: it builds the artifact (or takes it from the cache) and records its hash',
    );
  }
  const keeping = `keeping the last ${config.app.keep} releases (nothing restarts)`;
  const what =
    config.artifact && artifact
      ? `stage the artifact of ${release.dir} built once (sha256 ${shortSha(artifact.sha256)}` +
        `, ${artifact.files} files) on ${staged.length} hosts: sent only where a host lacks it, ` +
        `its hash checked on each before unpacking${config.app.build ? ', then app.build' : ''}, ${keeping}`
      : `upload and build ${release.dir} on ${staged.length} hosts, ${keeping}`;
  return [
    {
      id: 'stage',
      kind: 'stage',
      title: what,
      hosts: staged,
      ...(config.artifact && artifact ? { artifact: artifact.sha256 } : {}),
      releases: Object.fromEntries(staged.map((h) => [h, release.dir])),
      undo: unstageUndo(hosts, release),
    },
  ];
}

/** While a cluster is out of the pool the other carries everything; with nothing of it in the pool, nothing would. */
function checkCapacity(order: readonly ClusterId[], hostsOf: (c: ClusterId) => ObservedHost[]): void {
  for (const c of order) {
    const other: ClusterId = c === 'a' ? 'b' : 'a';
    if (hostsOf(c).some((h) => h.memberState === 'ready') && !hostsOf(other).some((h) => h.memberState === 'ready')) {
      throw new UserError(
        `cluster ${other} has no member in the pool (${hostsOf(other)
          .map((h) => `${h.member} ${h.memberState}`)
          .join(', ')}): draining cluster ${c} would leave nothing serving`,
        'return it to the pool first: `baton resume` or `baton rollback` if a push left it out, else by hand',
        'unchanged',
      );
    }
  }
}

/** Every plan begins by taking the release lock (released by its undo if the plan is reversed)… */
export function lockStep(config: Config): Step {
  return {
    id: 'lock',
    kind: 'lock',
    title: `take the release lock on ${config.balancer.host}`,
    undo: [{ id: 'undo-lock', kind: 'unlock', title: 'release the lock', undo: [] }],
  };
}

/** …and ends by releasing it. */
export function unlockStep(): Step {
  return { id: 'unlock', kind: 'unlock', title: 'release the lock', undo: [] };
}

/**
 * Drain, wait, activate each host's target release, smoke, ready: one cluster's part of a push or
 * a rollback. Only members in the pool now are drained; `poolAfter` (default: those same members)
 * are the ones returned to it, so a member an operator put in maintenance stays there.
 */
export function clusterSteps(
  c: ClusterId,
  hosts: ObservedHost[],
  targets: Record<string, string>,
  config: Config,
  poolAfter?: string[],
): Step[] {
  const names = hosts.map((h) => h.host);
  const inPool = hosts.filter((h) => h.memberState === 'ready').map((h) => h.member);
  const members = poolAfter ?? inPool;
  // Only hosts with a target are switched (a rollback leaves a host already on its target running),
  // and the undo puts back exactly those.
  const switched = pick(targets, names);
  const previous = Object.fromEntries(
    hosts.filter((h) => h.release && switched[h.host]).map((h) => [h.host, h.release as string]),
  );
  const at = { c, label: `cluster ${c} (${config.clusters[c].internal})` };
  return [
    {
      ...drainStep(at, `drain-${c}`, inPool),
      undo: inPool.length ? [readyUndo(at, inPool)] : [],
    },
    waitForwardStep(at, `wait-drain-${c}`, inPool, config),
    activateStep(at, switched, previous),
    {
      id: `smoke-${c}`,
      kind: 'smoke',
      title: `smoke-check ${at.label} and each of its hosts`,
      cluster: c,
      hosts: names,
      undo: [],
    },
    {
      id: `ready-${c}`,
      kind: 'ready',
      title:
        `return ${at.label} to the pool: ${members.join(', ') || 'no member was in it'} (smoke-checked: ` +
        'healthy at once)',
      cluster: c,
      members,
      vouchHealthy: true,
      undo: [drainStep(at, `undo-ready-${c}`, members), waitStep(at, `undo-ready-wait-${c}`, members)],
    },
    ...(config.watch ? [watchStep(c, config.watch)] : []),
  ];
}

/** Which cluster a step acts on, and how a person names it. */
interface ClusterAt {
  c: ClusterId;
  label: string;
}

function drainStep({ c, label }: ClusterAt, id: string, which: string[]): StepOf<'drain'> {
  return {
    id,
    kind: 'drain',
    title: `drain ${label}: ${which.join(', ') || 'nothing in the pool'}`,
    cluster: c,
    members: which,
    undo: [],
  };
}

function waitStep({ c, label }: ClusterAt, id: string, which: string[]): StepOf<'wait-drain'> {
  return {
    id,
    kind: 'wait-drain',
    title: `wait for in-flight requests on ${label} to finish`,
    cluster: c,
    members: which,
    undo: [],
  };
}

/**
 * A forward drain waits for users too when sessions are configured; a reversal does not: it undoes a release that
 * failed its checks.
 */
function waitForwardStep(at: ClusterAt, id: string, which: string[], config: Config): StepOf<'wait-drain'> {
  const sessions = config.balancer.driver === 'haproxy' ? config.balancer.sessions : undefined;
  if (!sessions) return waitStep(at, id, which);
  const table =
    sessions.track === 'table' ? `gone from stick table ${sessions.table ?? config.balancer.backend} or ` : '';
  return {
    ...waitStep(at, id, which),
    waitFor: 'sessions',
    title:
      `wait for in-flight requests and sticky sessions on ${at.label} to end: ` +
      `a session is over when ${table}idle ${formatDuration(sessions.idleAfter)} (at ` +
      `most ${formatDuration(sessions.timeout)})`,
  };
}

function readyUndo({ c }: ClusterAt, inPool: string[]): StepOf<'ready'> {
  return {
    id: `undo-drain-${c}`,
    kind: 'ready',
    title: `return ${inPool.join(', ')} to the pool`,
    cluster: c,
    members: inPool,
    undo: [],
  };
}

function activateStep(
  { c, label }: ClusterAt,
  switched: Record<string, string>,
  previous: Record<string, string>,
): StepOf<'activate'> {
  return {
    id: `activate-${c}`,
    kind: 'activate',
    title: `switch ${label} to ${describeReleases(switched)}, restart, wait for local health`,
    cluster: c,
    hosts: Object.keys(switched),
    releases: switched,
    undo: Object.keys(previous).length
      ? [
          {
            id: `undo-activate-${c}`,
            kind: 'activate',
            title: `switch ${label} back to ${describeReleases(previous)}, restart`,
            cluster: c,
            hosts: Object.keys(previous),
            releases: previous,
            undo: [],
          },
        ]
      : [],
  };
}

function watchStep(c: ClusterId, watch: NonNullable<Config['watch']>): StepOf<'watch'> {
  return {
    id: `watch-${c}`,
    kind: 'watch',
    title: `watch the public backend's 5xx share for ${watch.duration / 1000}s (at most ${watch.max5xxRatio * 100}%)`,
    cluster: c,
    undo: [],
  };
}

/**
 * The first cluster's `ready` and the second's `drain` as one flip step where the ready was; the
 * second's wait for its in-flight requests follows (after the first cluster's watch, if any).
 * Undone by the opposite flip, then waiting for the first cluster's requests to finish.
 */
export function withFlip(first: Step[], second: Step[], config: Config): [Step[], Step[]] {
  const ready = first.find((s) => stepIs(s, 'returnsToPool')) as Step;
  const drain = second.find((s) => stepIs(s, 'drainsCluster')) as Step;
  const [a, b] = [ready.cluster as ClusterId, drain.cluster as ClusterId];
  const returned = ready.members ?? [];
  const drained = drain.members ?? [];
  const label = (c: ClusterId) => `cluster ${c} (${config.clusters[c].internal})`;
  const flip: Step = {
    id: `flip-${a}`,
    kind: 'flip',
    title:
      `flip in one balancer change: return ${label(a)} to the pool, ` +
      `drain ${label(b)} (in: ${returned.join(', ') || 'none'}; out: ${drained.join(', ') || 'none'})`,
    cluster: a,
    members: drained,
    readyMembers: returned,
    ...(ready.vouchHealthy ? { vouchHealthy: true as const } : {}),
    undo: [
      {
        id: `undo-flip-${a}`,
        kind: 'flip',
        title: `flip back in one balancer change: return ${label(b)} to the pool, drain ${label(a)}`,
        cluster: b,
        members: returned,
        readyMembers: drained,
        undo: [],
      },
      {
        id: `undo-flip-wait-${a}`,
        kind: 'wait-drain',
        title: `wait for in-flight requests on ${label(a)} to finish`,
        cluster: a,
        members: returned,
        undo: [],
      },
    ],
  };
  return [first.map((s) => (s === ready ? flip : s)), second.filter((s) => s !== drain)];
}

/**
 * Expand the schema on the migrate host in the staged release's directory, then check the release
 * still serving through both clusters on the expanded schema: both releases must survive it.
 */
export function migrationSteps(config: Config, observed: ObservedState, release: Release): Step[] {
  const migrate = config.migrate;
  if (!migrate) return [];
  const host = migrate.host;
  const releases = { [host]: release.dir };
  const serving = Object.fromEntries(observed.hosts.filter((h) => h.release).map((h) => [h.host, h.release as string]));
  const old = Object.keys(serving).length ? describeReleases(serving) : 'no release';
  const undoneBy = migrate.reverse
    ? 'undone by migrate.reverse if the push is reversed'
    : 'cannot be undone by baton: no migrate.reverse';
  const expand: Step = {
    id: 'expand',
    kind: 'expand',
    title: `expand the schema with ${release.dir}'s migrations on ${host} (${undoneBy})`,
    hosts: [host],
    releases,
    undo: migrate.reverse
      ? [
          {
            id: 'undo-expand',
            kind: 'reverse-expand',
            title: `undo the schema expand of ${release.dir} on ${host} (migrate.reverse)`,
            hosts: [host],
            releases,
            undo: [],
          },
        ]
      : [],
  };
  const through = (['a', 'b'] as ClusterId[]).map((c) => `${config.clusters[c].internal} (cluster ${c})`).join(' and ');
  const gate: Step = {
    id: 'gate',
    kind: 'gate',
    title: migrate.gate.length
      ? `check the release still serving (${old}) on the expanded schema through ${through} and each of their ` +
        `hosts, before anything drains (${migrate.gate.length} check${migrate.gate.length === 1 ? '' : 's'})`
      : `check the release still serving (${old}) on the expanded schema before anything drains: ` +
        'no checks are configured (smoke or migrate.gate), so nothing is checked',
    hosts: observed.hosts.map((h) => h.host),
    undo: [],
  };
  return [expand, gate];
}

function unstageUndo(hosts: ObservedHost[], release: Release): Step[] {
  // A host already running this release keeps it: removing it would break the way back.
  const removable = hosts.filter((h) => h.release !== release.dir).map((h) => h.host);
  if (!removable.length) return [];
  return [
    {
      id: 'undo-stage',
      kind: 'unstage',
      title: `remove ${release.dir} where it was staged`,
      hosts: removable,
      releases: Object.fromEntries(removable.map((h) => [h, release.dir])),
      undo: [],
    },
  ];
}

export function describeReleases(byHost: Record<string, string>): string {
  const distinct = [...new Set(Object.values(byHost))];
  return distinct.length === 1 ? (distinct[0] as string) : `each host's own release (${distinct.join(', ')})`;
}

function pick(byHost: Record<string, string>, hosts: readonly string[]): Record<string, string> {
  return Object.fromEntries(hosts.filter((h) => byHost[h]).map((h) => [h, byHost[h] as string]));
}
