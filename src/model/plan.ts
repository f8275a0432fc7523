// A plan: plain, serialisable data. Forward steps, each with the steps that undo it, the live
// state it was made from, and a hash over everything a reviewer approves.
import type { Finding } from '../checks/preflight.js';
import type { ClusterId, Config, HookConfig, HookName, NotifyTargetConfig } from '../config/config.js';
import type { MemberState } from '../balancers/types.js';
import type { Release } from './release.js';
import type { PlanArtifact } from './artifact.js';
import type { PlanCanary } from './canary.js';
import { digest } from './canonical.js';

export const PLAN_FORMAT = 'baton-plan/1';

export { STEP_KINDS, type Step, type StepKind, type StepOf } from './steps.js';
import type { Step } from './steps.js';

export interface ObservedHost {
  host: string;
  cluster: ClusterId;
  member: string;
  address: string;
  memberState: MemberState;
  /** Directory `current` points at, or null when the host has none. */
  release: string | null;
}

export interface ObservedState {
  observedAt: string;
  balancer: { driver: string; host: string; backend: string };
  hosts: ObservedHost[];
  /** With track: in baton.yml, the snapshot the plan was made against; apply refuses a host that drifted since. */
  snapshot?: SnapshotRecord;
}

/** The snapshot commit (null before the first) and a digest of each host's tracked paths when the plan was made. */
export interface SnapshotRecord {
  commit: string | null;
  hosts: Record<string, string>;
}

/** A reviewer's approval of one exact plan (by its hash). */
export interface Approval {
  /** Who the reviewer says they are; not trusted: apply counts the principal the signature verifies as. */
  by: string;
  at: string;
  /** The plan hash approved; an approval of another hash does not count. */
  hash: string;
  /** Armored SSH signature (`ssh-keygen -Y sign`, namespace baton-plan) of `baton approve <hash>\n`. */
  signature?: string;
  /** Fingerprint of the key that signed, for people to read; apply takes it from the signature. */
  key?: string;
}

/** A rehearsal: forward then reverse carried out on the idle side, and whether each ended where expected. */
export interface Rehearsal {
  at: string;
  by: string;
  hash: string;
  outcome: 'passed' | 'failed';
  /** What it ran against: `cluster a (drained)`, or a staging config file. */
  against: string;
  forwardMs: number;
  reverseMs: number;
  detail?: string;
  /** Armored SSH signature (namespace baton-rehearsal) of `baton rehearsal <hash> <outcome>\n` by whoever ran it. */
  signature?: string;
  /** Fingerprint of the key that signed. */
  key?: string;
}

/** What preflight found when the plan was made, and who ran anyway despite a refusal (and why). */
/**
 * What a plan does: deploy a new release, return to the one that ran before, contract the schema, or restore a host.
 */
export const PLAN_KINDS = ['push', 'rollback', 'contract', 'restore'] as const;
export type PlanKind = (typeof PLAN_KINDS)[number];

export interface PlanKindTraits {
  /** A run of it, for a sentence: "push of v2", "rollback to v1". */
  runOf: string;
  /** It deploys a release a rollback would undo (a rollback, a contract or a restore are not undone by one). */
  undoneByRollback: boolean;
  /** It is the way back: nothing of a team's own (a freeze hook) may stand in its way. */
  wayBack: boolean;
}

export const PLAN_KIND_TRAITS: Record<PlanKind, PlanKindTraits> = {
  push: { runOf: 'push of', undoneByRollback: true, wayBack: false },
  rollback: { runOf: 'rollback to', undoneByRollback: false, wayBack: true },
  // It changes no host's release; releases before it can no longer run.
  contract: { runOf: 'schema contract for', undoneByRollback: false, wayBack: false },
  restore: { runOf: 'restore of a host with', undoneByRollback: false, wayBack: false },
};

export function isPlanKind(kind: unknown): kind is PlanKind {
  return typeof kind === 'string' && (PLAN_KINDS as readonly string[]).includes(kind);
}

/** A plan's kind: a plan without one is a push (plans made before kinds existed). */
export function planKindOf(plan: { kind?: PlanKind }): PlanKind {
  return plan.kind ?? 'push';
}

export interface PlanPreflight {
  findings: Finding[];
  overridden?: { reason: string; by: string };
}

/**
 * `--force REASON`: the push was planned whole although a cluster (or every one) already ran and
 * served its release, to restart it say; who gave the reason. Journaled when the plan runs.
 */
export interface PlanForced {
  reason: string;
  by: string;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  /**
   * What the plan does: deploy a new release, return to the one that ran before, or contract the schema (absent: push).
   */
  kind?: PlanKind;
  app: string;
  /**
   * The environment (`-e NAME`) it was made for; absent: baton.yml alone. Hashed: a plan cannot be relabelled for
   * another.
   */
  environment?: string;
  release: Release;
  /**
   * The artifact built once that the plan deploys (artifact: in baton.yml, and a stage step); the hash covers it, so an
   * approval covers these bytes.
   */
  artifact?: PlanArtifact;
  createdAt: string;
  createdBy: string;
  observed: ObservedState;
  /** Digest of the parts of the observed state apply re-checks. */
  observedDigest: string;
  forward: Step[];
  /** What preflight found (absent in plans made before it, and in rollback and contract plans). */
  preflight?: PlanPreflight;
  /** Present when the push was forced past clusters that already serve its release (absent: those are left alone). */
  forced?: PlanForced;
  /** The hooks a run of it runs (baton.yml's hooks:): hashed, so a changed hook needs a new plan. */
  hooks?: Partial<Record<HookName, HookConfig>>;
  /** Where a run of it sends notifications (baton.yml's notify:), the URL shown without its secret part. */
  notify?: PlanNotify[];
  /**
   * The canary the push was made with (canary: in baton.yml or `push --canary`): its shares, thresholds, the driver's
   * weight range and the weights observed.
   */
  canary?: PlanCanary;
  /** Content hash of everything above; approvals name it. */
  hash: string;
  /**
   * Not part of the hash: its maker's signature of it (`baton plan -o --key`, message `baton plan <hash>\n`), so apply
   * can tell the author's own approval.
   */
  author?: Approval;
  /** Not part of the hash: recorded after review. */
  approvals?: Approval[];
  rehearsals?: Rehearsal[];
}

/** A notification target as a plan shows it: never the URL's secret. */
export interface PlanNotify {
  /** `env SLACK_URL`, or a URL written in baton.yml cut to its origin (`https://chat.example.com/…`). */
  to: string;
  format: NotifyTargetConfig['format'];
  events: NotifyTargetConfig['events'];
}

/** The hooks and notification targets baton.yml gives a run, as a plan records them (nothing when it has none). */
export function planHooks(config: Pick<Config, 'hooks' | 'notify'>): Pick<Plan, 'hooks' | 'notify'> {
  const hooks = Object.keys(config.hooks ?? {}).length ? { hooks: config.hooks } : {};
  const notify = config.notify?.length
    ? {
        notify: config.notify.map((t) => ({
          to: typeof t.url === 'string' ? maskedUrl(t.url) : `env ${t.url.env}`,
          format: t.format,
          events: t.events,
        })),
      }
    : {};
  return { ...hooks, ...notify };
}

/** A URL cut to its origin: a webhook's path and query are often its secret. */
export function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === '/' && !u.search ? u.origin : `${u.origin}/…`;
  } catch {
    return '[url]';
  }
}

/** The state apply compares: who is in the pool and what each host runs (not sessions or time). */
export function observedDigest(state: ObservedState): string {
  return digest({
    balancer: state.balancer,
    hosts: state.hosts.map((h) => ({ host: h.host, member: h.member, state: h.memberState, release: h.release })),
  });
}

export function planHash(plan: Omit<Plan, 'hash'>): string {
  const {
    format,
    kind,
    app,
    environment,
    release,
    artifact,
    createdAt,
    createdBy,
    observed,
    observedDigest: od,
    forward,
    preflight,
    forced,
    hooks,
    notify,
    canary,
  } = plan;
  // Optional parts join the hash only when present, so plans made without them keep their hash.
  return digest({
    format,
    ...(kind ? { kind } : {}),
    app,
    ...(environment !== undefined ? { environment } : {}),
    release,
    ...(artifact ? { artifact } : {}),
    createdAt,
    createdBy,
    observed,
    observedDigest: od,
    forward,
    ...(preflight ? { preflight } : {}),
    ...(forced ? { forced } : {}),
    ...(hooks ? { hooks } : {}),
    ...(notify ? { notify } : {}),
    ...(canary ? { canary } : {}),
  });
}

/** Whose plan: the app and the environment of the configuration it is made from. */
export function planOwner(config: Pick<Config, 'app' | 'environment'>): Pick<Plan, 'app' | 'environment'> {
  return { app: config.app.name, ...(config.environment !== undefined && { environment: config.environment }) };
}

/** The app as people read it, with its environment: `shop`, `shop (staging)`. */
export function appIn(app: string, environment: string | undefined): string {
  return environment === undefined ? app : `${app} (${environment})`;
}

/** How a person names where a plan or a run belongs: `environment "staging"`, or `baton.yml alone (no environment)`. */
export function describeEnvironment(environment: string | undefined): string {
  return environment === undefined ? 'baton.yml alone (no environment)' : `environment ${JSON.stringify(environment)}`;
}

/** A plan from its parts: the format, the digest of what it was made from, and the hash over all of it. */
export function sealPlan(parts: Omit<Plan, 'hash' | 'format' | 'observedDigest'>): Plan {
  const partial: Omit<Plan, 'hash'> = { ...parts, format: PLAN_FORMAT, observedDigest: observedDigest(parts.observed) };
  return { ...partial, hash: planHash(partial) };
}

/** A plan with no step changes nothing: every host already runs its release and serves (`No changes`). */
export function changesNothing(plan: Pick<Plan, 'forward'>): boolean {
  return plan.forward.length === 0;
}

/** The clusters a push plan leaves alone (no step of it names them): they already run its release and serve. */
export function clustersLeftAlone(plan: Pick<Plan, 'forward' | 'observed'>): ClusterId[] {
  const touched = new Set(plan.forward.map((s) => s.cluster));
  return [...new Set(plan.observed.hosts.map((h) => h.cluster))].filter((c) => !touched.has(c)).sort();
}

/** The whole reverse plan: every forward step's undo, newest first. */
export function reverseSteps(forward: readonly Step[]): Step[] {
  return [...forward].reverse().flatMap((s) => s.undo);
}
