// Steps as types: every kind, a push's or a DNS migration's, names the fields its steps must carry
// and the ones they may, and the types follow from that one table. A kind's code gets its own
// step type (a drain step has its members, no `?? []`); code over any step reads fields as
// optional, as before. The same table checks a plan read from a file (src/model/step-kinds.ts).
import type { ClusterId } from '../config/config.js';
import type { CanaryAnalysis } from './canary.js';

/** Every step kind of a push, rollback, contract or restore, in the order a push meets them. */
export const STEP_KINDS = [
  'lock',
  'unlock',
  'stage',
  'unstage',
  'drain',
  'wait-drain',
  'activate',
  'smoke',
  'ready',
  'canary',
  'weigh',
  'flip',
  'watch',
  'expand',
  'reverse-expand',
  'gate',
  'contract',
  'restore-config',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** What each field of a push step holds. */
export interface StepFieldTypes {
  cluster: ClusterId;
  /** Hosts the step runs on. */
  hosts: string[];
  /** Balancer members the step changes (for flip: the ones it drains). */
  members: string[];
  /** For flip: the members it returns to the pool, in the same balancer change as the drain. */
  readyMembers: string[];
  /**
   * For wait-drain: also wait for the drained members' sticky sessions to end (balancer.sessions), not only their
   * requests.
   */
  waitFor: 'sessions';
  /** For stage/activate/unstage/expand: the release directory per host (contract: the release every host must run). */
  releases: Record<string, string>;
  /** For ready/flip: the members returned were smoke-checked just before, so the balancer is told they are healthy at
   *  once rather than waiting for its own checks to rise (which still run, and take down a member that fails them). */
  vouchHealthy: true;
  /** For stage: the SHA-256 of the artifact built once (artifact: in baton.yml) that each host checks before
   *  unpacking; absent: the tag, built on each host. */
  artifact: string;
  /** For restore-config: the snapshot commit whose configuration is put back on the step's host. */
  snapshot: string;
  /** For canary: the members of the other cluster, which serve the rest of the public share. */
  stableMembers: string[];
  /** For canary: the percentage of public traffic the canary cluster gets (1-99). */
  weight: number;
  /** For canary: how long it holds that share, judging as it goes. */
  forMs: number;
  /** For canary and weigh: the weight each of these members is given (canary: the share's; weigh: as observed). */
  weights: Record<string, number>;
  /** For canary: what the share is judged by, recorded so the run judges what was approved. */
  analysis: CanaryAnalysis;
}
export type StepField = keyof StepFieldTypes;

interface Shape<F extends string> {
  /** Fields every step of the kind carries (checked when a plan is built or read). */
  readonly requires: readonly F[];
  /** Fields it may carry; any other field is not its to carry. */
  readonly may: readonly F[];
}

const shape = <const R extends readonly StepField[], const M extends readonly StepField[]>(requires: R, may: M) => ({
  requires,
  may,
});

export const STEP_SHAPES = {
  lock: shape([], []),
  unlock: shape([], []),
  stage: shape(['hosts', 'releases'], ['artifact']),
  unstage: shape(['hosts', 'releases'], []),
  drain: shape(['cluster', 'members'], []),
  'wait-drain': shape(['members'], ['cluster', 'waitFor']),
  activate: shape(['cluster', 'hosts', 'releases'], []),
  smoke: shape(['cluster'], ['hosts']),
  ready: shape(['cluster', 'members'], ['vouchHealthy']),
  canary: shape(['cluster', 'members', 'stableMembers', 'weight', 'forMs', 'weights', 'analysis'], ['vouchHealthy']),
  weigh: shape(['weights'], ['cluster']),
  flip: shape(['cluster', 'members', 'readyMembers'], ['vouchHealthy']),
  watch: shape([], ['cluster']),
  expand: shape(['hosts', 'releases'], []),
  'reverse-expand': shape(['hosts', 'releases'], []),
  gate: shape(['hosts'], ['releases']),
  contract: shape(['hosts', 'releases'], []),
  'restore-config': shape(['hosts', 'snapshot'], []),
} as const satisfies Record<StepKind, Shape<StepField>>;

/** A step of one kind: the fields its kind requires, those it may carry, and no other. */
type Shaped<Types, S extends Shape<keyof Types & string>, Base> = Base & {
  [F in S['requires'][number]]: Types[F];
} & { [F in S['may'][number]]?: Types[F] } & {
  [F in Exclude<keyof Types, S['requires'][number] | S['may'][number]>]?: undefined;
};

export type StepOf<K extends StepKind> = Shaped<
  StepFieldTypes,
  (typeof STEP_SHAPES)[K],
  {
    /** Stable id within the plan, e.g. `drain-a`. */
    id: string;
    kind: K;
    title: string;
    /** Steps that undo this one; run newest first when a push is reversed. */
    undo: Step[];
  }
>;

/** A push's step (any kind): a union discriminated by `kind`. */
export type Step = { [K in StepKind]: StepOf<K> }[StepKind];

/** A DNS migration's step kinds. */
export const DNS_STEP_KIND_NAMES = [
  'dns-check',
  'dns-record',
  'dns-wait',
  'proxy-start',
  'proxy-stop',
  'cutover',
  'cutback',
] as const;
export type DnsStepKind = (typeof DNS_STEP_KIND_NAMES)[number];

/** Which command carries a DNS step out. */
export type DnsPhase = 'lower-ttl' | 'prepare' | 'proxy' | 'cutover' | 'finish';

/** A transitional proxy on the old host: on a side port first, then on the site's own port. */
export type ProxyInstance = 'side' | 'port';

export interface RecordChangeSpec {
  name: string;
  /** Address it must hold now (undefined: no A record). */
  from?: string;
  /** Address it gets (undefined: deleted). */
  to?: string;
  /** The name's AAAA record, changed in the same compare-and-set (from/to as for A); absent: left alone. */
  aaaa?: { from?: string; to?: string };
  ttl: number;
}

/** The forward steps of a migration, in order: what phases wait for and what the journal's replay dates. */
export const DNS_STEP_IDS = [
  'lower-ttl',
  'transitional',
  'proxy-side',
  'cutover',
  'switch',
  'finish',
  'restore-ttl',
] as const;
export type DnsForwardStepId = (typeof DNS_STEP_IDS)[number];
/** A forward step's undo is `undo-<its id>`; the switch's is followed by a wait. */
export type DnsUndoStepId = `undo-${DnsForwardStepId}` | 'undo-switch-wait';
export type DnsStepId = DnsForwardStepId | DnsUndoStepId;

/** What each field of a DNS step holds. */
export interface DnsStepFieldTypes {
  /** The old host the step acts on. */
  host: string;
  instance: ProxyInstance;
  record: RecordChangeSpec;
  /** dns-wait: seconds to wait. */
  waitSeconds: number;
  /** Earliest safe time to start this step, if the steps before it are taken as soon as allowed. */
  earliest: string;
}
export type DnsStepField = keyof DnsStepFieldTypes;

const dnsShape = <const R extends readonly DnsStepField[], const M extends readonly DnsStepField[]>(
  requires: R,
  may: M,
) => ({ requires, may });

export const DNS_STEP_SHAPES = {
  'dns-check': dnsShape([], ['earliest']),
  'dns-record': dnsShape(['record'], ['earliest']),
  'dns-wait': dnsShape(['waitSeconds'], ['earliest']),
  'proxy-start': dnsShape(['host'], ['instance', 'earliest']),
  // Without an instance: every proxy the migration started.
  'proxy-stop': dnsShape(['host'], ['instance', 'earliest']),
  cutover: dnsShape(['host'], ['earliest']),
  cutback: dnsShape(['host'], ['earliest']),
} as const satisfies Record<DnsStepKind, Shape<DnsStepField>>;

export type DnsStepOf<K extends DnsStepKind> = Shaped<
  DnsStepFieldTypes,
  (typeof DNS_STEP_SHAPES)[K],
  { id: DnsStepId; kind: K; title: string; phase: DnsPhase; undo: DnsStep[] }
>;

/** A DNS migration's step (any kind). */
export type DnsStep = { [K in DnsStepKind]: DnsStepOf<K> }[DnsStepKind];
/** One of a migration plan's forward steps. */
export type DnsForwardStep = DnsStep & { id: DnsForwardStepId };

/** Any step the runner carries out: a push's or a DNS migration's, one union discriminated by `kind`. */
export type AnyStep = Step | DnsStep;
export type AnyStepKind = AnyStep['kind'];

/** A push's step, by its kind (the runner of a push is handed only these). */
export function isPushStep(step: AnyStep): step is Step {
  return (STEP_KINDS as readonly string[]).includes(step.kind);
}

/** A DNS migration's step, by its kind. */
export function isDnsStep(step: AnyStep): step is DnsStep {
  return (DNS_STEP_KIND_NAMES as readonly string[]).includes(step.kind);
}
