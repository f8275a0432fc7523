// A plan: plain, serialisable data. Forward steps, each with the steps that undo it, the live
// state it was made from, and a hash over everything a reviewer approves.
import type { Finding } from '../checks/preflight.js';
import type { ClusterId, Config } from '../config/config.js';
import type { MemberState } from '../balancers/types.js';
import type { Release } from './release.js';
import { digest } from './canonical.js';

export const PLAN_FORMAT = 'baton-plan/1';

/** Every step kind this baton can carry out, in the order a push meets them. */
export const STEP_KINDS = ['lock', 'unlock', 'stage', 'unstage', 'drain', 'wait-drain', 'activate', 'smoke', 'ready', 'flip', 'watch', 'expand', 'reverse-expand', 'gate', 'contract', 'restore-config'] as const;

export type StepKind = (typeof STEP_KINDS)[number];

export interface Step {
  /** Stable id within the plan, e.g. `drain-a`. */
  id: string;
  kind: StepKind;
  title: string;
  cluster?: ClusterId;
  /** Hosts the step runs on. */
  hosts?: string[];
  /** Balancer members the step changes (for flip: the ones it drains). */
  members?: string[];
  /** For flip: the members it returns to the pool, in the same balancer change as the drain. */
  readyMembers?: string[];
  /** For wait-drain: also wait for the drained members' sticky sessions to end (balancer.sessions), not only their requests. */
  waitFor?: 'sessions';
  /** For stage/activate/unstage/expand: the release directory per host (contract: the release every host must run). */
  releases?: Record<string, string>;
  /** For ready/flip: the members returned were smoke-checked just before, so the balancer is told they are healthy at once rather than waiting for its own checks to rise (which still run, and take down a member that fails them). */
  vouchHealthy?: true;
  /** For restore-config: the snapshot commit whose configuration is put back on the step's host. */
  snapshot?: string;
  /** Steps that undo this one; run newest first when a push is reversed. */
  undo: Step[];
}

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
export interface PlanPreflight {
  findings: Finding[];
  overridden?: { reason: string; by: string };
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  /** What the plan does: deploy a new release, return to the one that ran before, or contract the schema (absent: push). */
  kind?: 'push' | 'rollback' | 'contract' | 'restore';
  app: string;
  /** The environment (`-e NAME`) it was made for; absent: baton.yml alone. Hashed: a plan cannot be relabelled for another. */
  environment?: string;
  release: Release;
  createdAt: string;
  createdBy: string;
  observed: ObservedState;
  /** Digest of the parts of the observed state apply re-checks. */
  observedDigest: string;
  forward: Step[];
  /** What preflight found (absent in plans made before it, and in rollback and contract plans). */
  preflight?: PlanPreflight;
  /** Content hash of everything above; approvals name it. */
  hash: string;
  /** Not part of the hash: its maker's signature of it (`baton plan -o --key`, message `baton plan <hash>\n`), so apply can tell the author's own approval. */
  author?: Approval;
  /** Not part of the hash: recorded after review. */
  approvals?: Approval[];
  rehearsals?: Rehearsal[];
}

/** The state apply compares: who is in the pool and what each host runs (not sessions or time). */
export function observedDigest(state: ObservedState): string {
  return digest({
    balancer: state.balancer,
    hosts: state.hosts.map((h) => ({ host: h.host, member: h.member, state: h.memberState, release: h.release })),
  });
}

export function planHash(plan: Omit<Plan, 'hash'>): string {
  const { format, kind, app, environment, release, createdAt, createdBy, observed, observedDigest: od, forward, preflight } = plan;
  // Optional parts join the hash only when present, so plans made without them keep their hash.
  return digest({ format, ...(kind ? { kind } : {}), app, ...(environment !== undefined ? { environment } : {}), release, createdAt, createdBy, observed, observedDigest: od, forward, ...(preflight ? { preflight } : {}) });
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

/** The whole reverse plan: every forward step's undo, newest first. */
export function reverseSteps(forward: readonly Step[]): Step[] {
  return [...forward].reverse().flatMap((s) => s.undo);
}
