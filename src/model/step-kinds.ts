// What each step kind is, as data: the fields its steps carry, and how the runner, the plan
// reader and rehearsals treat it. The kinds' code (src/steps, src/dns/kinds.ts) adds how a step
// runs; reading or checking a plan needs only this, so it loads no step's code.
import { BugError } from '../errors.js';
import { isReleaseDirName, NOT_A_RELEASE } from './release.js';
import { isPlanQueries } from './canary-query.js';
import { STEP_KINDS, STEP_SHAPES, type DnsStepKind, type Step, type StepField, type StepKind } from './steps.js';

export { DNS_STEP_KIND_NAMES, type DnsStepKind, type StepField } from './steps.js';

/** What the runner must know of any step kind, push or DNS migration. */
export interface StepTraits {
  /**
   * Carrying it out changes what production serves or who serves it (the pool, a host's current release, a public
   * record).
   */
  changesProduction: boolean;
  /** A failure part-way may have changed something: its own undo runs too, not only earlier steps'. */
  undoWhenFailed: boolean;
  /** Puts a cluster back into public service: `push --hold` stops after the first one (and its watch). */
  returnsToPool?: boolean;
  /** Only observes (a watch after a flip): `push --hold` keeps it with the flip it follows. */
  followsReturn?: boolean;
  /** Left out of an idle-side rehearsal (it would put the new release in front of users, or end the lock early). */
  skipWhenRehearsingIdleSide?: boolean;
  /**
   * Acts on what both clusters share (the database), from one host: a rehearsal on one side runs it whole, never
   * narrowed to that side's hosts.
   */
  sharedByClusters?: boolean;
  /** Uploads the release archive: a run that has it still to do needs the tag exported first. */
  needsArtifact?: boolean;
  /** Takes the release lock / gives it back. */
  takesLock?: boolean;
  releasesLock?: boolean;
  /** Takes a cluster out of the pool (a push's first change to it). */
  drainsCluster?: boolean;
  /** Waits until drained members carry no more requests (or sessions). */
  waitsForDrain?: boolean;
  /** Switches which release a cluster's hosts run: until it began, they run what the plan observed. */
  switchesRelease?: boolean;
  /** Checks a cluster through its internal hostname. */
  smokeChecks?: boolean;
  /** Changes the database's schema: the new release's expand, or the contract after it. */
  schemaChange?: 'expand' | 'contract';
  /** Puts a host's tracked configuration back from a snapshot (a bare-metal restore). */
  restoresConfig?: boolean;
  /** Gives balancer members weights (a canary share, or the weights put back). */
  setsWeights?: boolean;
  /** Holds a share of public traffic on a cluster and judges it against the other (a canary). */
  judgesShare?: boolean;
  /** Changes nothing: confirms a fact the plan found already true (a DNS name already pointing right). */
  confirmsOnly?: boolean;
}

const traits = (changesProduction: boolean, undoWhenFailed: boolean, more: Partial<StepTraits> = {}): StepTraits => ({
  changesProduction,
  undoWhenFailed,
  ...more,
});

export const STEP_TRAITS: Record<StepKind, StepTraits> = {
  // A lock step that failed took nothing: someone else holds it.
  lock: traits(false, false, { takesLock: true }),
  unlock: traits(false, false, { releasesLock: true, skipWhenRehearsingIdleSide: true }),
  stage: traits(false, true, { needsArtifact: true }),
  unstage: traits(false, true),
  drain: traits(true, true, { drainsCluster: true }),
  'wait-drain': traits(false, false, { waitsForDrain: true }),
  activate: traits(true, true, { switchesRelease: true }),
  smoke: traits(false, false, { smokeChecks: true }),
  ready: traits(true, true, { returnsToPool: true, skipWhenRehearsingIdleSide: true }),
  // Returns the canary cluster to the pool at a share (weights first), then holds it there judging its 5xx:
  // a failure part-way may have set weights or returned members, so its undo runs too.
  canary: traits(true, true, {
    returnsToPool: true,
    skipWhenRehearsingIdleSide: true,
    setsWeights: true,
    judgesShare: true,
  }),
  // Puts member weights back as observed (the canary's end, and its undo).
  weigh: traits(true, true, { followsReturn: true, skipWhenRehearsingIdleSide: true, setsWeights: true }),
  flip: traits(true, true, {
    returnsToPool: true,
    skipWhenRehearsingIdleSide: true,
  }),
  watch: traits(false, false, { followsReturn: true }),
  // Changes the database both clusters share; a failure part-way may have changed some of it.
  expand: traits(true, true, { sharedByClusters: true, schemaChange: 'expand' }),
  'reverse-expand': traits(true, false, { sharedByClusters: true }),
  // Only looks: a failure reverses the push (the expand's undo, unstage, unlock).
  gate: traits(false, false),
  // Irreversible by design: it has no undo, and it runs only in a plan of its own.
  contract: traits(true, false, { schemaChange: 'contract' }),
  // The host is out of the pool while it runs: nothing the public reaches changes.
  'restore-config': traits(false, false, { restoresConfig: true }),
};

// A DNS step that fails puts back what it did itself (src/dns/steps.ts), so none asks for its own undo.
const dns = (changesProduction: boolean, more: Partial<StepTraits> = {}): StepTraits =>
  traits(changesProduction, false, more);
export const DNS_STEP_TRAITS: Record<DnsStepKind, StepTraits> = {
  // Nothing to change, a fact confirmed (the transitional name already points at the new host).
  'dns-check': dns(false, { confirmsOnly: true }),
  // A compare-and-set change of a record the public resolves (the site's, or the transitional
  // name before anyone uses it), then a wait until every authoritative server serves it.
  'dns-record': dns(true),
  // Waits out a cache horizon.
  'dns-wait': dns(false),
  // A proxy on a side port takes no public traffic; stopping one may be the one on the site's port.
  'proxy-start': dns(false),
  'proxy-stop': dns(true),
  // Gate, stop the old web server, sync, proxy on its port, verify, open the gate; cutback is the way back.
  cutover: dns(true),
  cutback: dns(true),
};

export function isStepKind(kind: unknown): kind is StepKind {
  return typeof kind === 'string' && (STEP_KINDS as readonly string[]).includes(kind);
}

/** What the runner must know of a step of any kind, a DNS migration's included. */
export function stepTraits(kind: string): StepTraits {
  const found =
    (STEP_TRAITS as Record<string, StepTraits>)[kind] ?? (DNS_STEP_TRAITS as Record<string, StepTraits>)[kind];
  if (!found) throw new BugError(`no step kind ${JSON.stringify(kind)}`);
  return found;
}

type YesNoTrait = {
  [K in keyof StepTraits]-?: StepTraits[K] extends boolean | undefined ? K : never;
}[keyof StepTraits];

/** Whether a step's kind has this trait: what code outside the kinds asks instead of a kind's name. */
export function stepIs(step: { kind: string }, trait: YesNoTrait): boolean {
  return stepTraits(step.kind)[trait] === true;
}

/**
 * Something wrong with a plan or one of its steps, and what it means for whoever reads the plan:
 * made by a newer baton (a kind this one does not know), a value that would reach a host as a
 * path it must not (refused outright), or anything else that leaves it incomplete.
 */
export interface StepProblem {
  kind: 'newer-baton' | 'not-a-release' | 'incomplete';
  message: string;
  /** For newer-baton: the step kind this baton does not know. */
  stepKind?: string;
}

/** Whether a field's value is one a step may carry: the plan reader's half of the types in src/model/steps.ts. */
const FIELD_OK: Record<StepField, (v: unknown) => boolean> = {
  cluster: (v) => v === 'a' || v === 'b',
  hosts: isStringList,
  members: isStringList,
  readyMembers: isStringList,
  releases: isReleaseMap,
  waitFor: (v) => v === 'sessions',
  vouchHealthy: (v) => v === true,
  // The hash names a file on each host: only 64 hex digits may reach one.
  artifact: (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v),
  snapshot: (v) => typeof v === 'string' && /^[0-9a-f]{40,64}$/.test(v),
  stableMembers: isStringList,
  weight: (v) => typeof v === 'number' && Number.isFinite(v) && v > 0 && v < 100,
  forMs: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0,
  weights: (v) =>
    isRecord(v) && Object.values(v as object).every((w) => typeof w === 'number' && Number.isInteger(w) && w >= 1),
  analysis: (v) => {
    if (!isRecord(v)) return false;
    const a = v as Record<string, unknown>;
    const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
    return (
      num(a.max5xxRatio) &&
      num(a.maxRelative5xx) &&
      num(a.minRequests) &&
      (a.maxLatencyMs === undefined || num(a.maxLatencyMs)) &&
      (a.maxRelativeLatency === undefined || num(a.maxRelativeLatency)) &&
      isPlanQueries(a.queries) &&
      (a.maxConnectionErrorRatio === undefined || num(a.maxConnectionErrorRatio)) &&
      (a.maxRelativeConnectionErrors === undefined || num(a.maxRelativeConnectionErrors)) &&
      (a.countsAttempts === undefined || typeof a.countsAttempts === 'boolean') &&
      (a.scope === 'members' || a.scope === 'backend')
    );
  },
};
const FIELDS = Object.keys(FIELD_OK) as StepField[];

/** What is wrong with a step (and its undo steps) by its kind's shape: empty when nothing is. */
export function stepProblemList(step: Step, where = step.id ?? '?'): StepProblem[] {
  const s = step as unknown as Record<string, unknown>;
  const problems: StepProblem[] = [];
  const incomplete = (message: string) => problems.push({ kind: 'incomplete', message });
  if (typeof s.id !== 'string' || !s.id) incomplete(`${where}: no id`);
  if (typeof s.title !== 'string') incomplete(`${where}: no title`);
  if (!isStepKind(s.kind))
    problems.push({
      kind: 'newer-baton',
      message: `${where}: unknown step kind ${JSON.stringify(s.kind)} (made by a newer baton?)`,
      stepKind: String(s.kind),
    });
  else problems.push(...fieldProblems(s, s.kind, where));
  if (!Array.isArray(s.undo)) return [...problems, { kind: 'incomplete', message: `${where}: no undo list` }];
  return [...problems, ...(s.undo as Step[]).flatMap((u, i) => stepProblemList(u, `${where}.undo[${i}]`))];
}

/** Each field checked against the kind's shape: required ones present and sound, the others absent or sound. */
function fieldProblems(s: Record<string, unknown>, kind: StepKind, where: string): StepProblem[] {
  const { requires, may } = STEP_SHAPES[kind] as { requires: readonly StepField[]; may: readonly StepField[] };
  return FIELDS.flatMap((field): StepProblem[] => {
    const v = s[field];
    const required = requires.includes(field);
    if (v === undefined && !required) return [];
    if (!required && !may.includes(field))
      return [{ kind: 'incomplete', message: `${where}: ${field} is not something a ${kind} step carries` }];
    if (FIELD_OK[field](v)) return [];
    // A value that would reach a host as a path (a release directory, an artifact's file) is refused outright.
    if (field === 'releases' && isRecord(v))
      return [{ kind: 'not-a-release', message: `${where}: a ${kind} step names a release that ${NOT_A_RELEASE}` }];
    if (field === 'artifact')
      return [
        {
          kind: 'not-a-release',
          message: `${where}: artifact ${JSON.stringify(v)} is not the SHA-256 of a stage step's artifact`,
        },
      ];
    return [
      {
        kind: 'incomplete',
        message: required
          ? `${where}: a ${kind} step needs ${field}`
          : `${where}: ${field} ${JSON.stringify(v)} is not something a ${kind} step can carry`,
      },
    ];
  });
}

/** The same, as sentences. */
export function stepProblems(step: Step, where = step.id ?? '?'): string[] {
  return stepProblemList(step, where).map((p) => p.message);
}

function isRecord(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// A plan names directories that are removed and linked on hosts: each must be a release name, never a path.
function isReleaseMap(v: unknown): boolean {
  return isRecord(v) && Object.values(v as object).every(isReleaseDirName);
}

function isStringList(v: unknown): boolean {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
