// The one registry of step kinds. Everything that needs to know what a kind means asks here.
import { BugError } from '../errors.js';
import { STEP_KINDS, type Step, type StepKind } from '../model/plan.js';
import { isReleaseDirName, NOT_A_RELEASE } from '../model/release.js';
import { activateKind } from './activate.js';
import { DNS_STEP_KINDS } from '../dns/kinds.js';
import type { StepKindSpec, StepTraits } from './kind.js';
import { lockKind, unlockKind } from './lock.js';
import { contractKind, expandKind, gateKind, reverseExpandKind } from './migrate.js';
import { drainKind, flipKind, readyKind, waitDrainKind } from './pool.js';
import { restoreConfigKind } from './restore-config.js';
import { smokeKind } from './smoke.js';
import { stageKind, unstageKind } from './stage.js';
import { watchKind } from './watch.js';

const SPECS: Record<StepKind, StepKindSpec> = {
  lock: lockKind,
  unlock: unlockKind,
  stage: stageKind,
  unstage: unstageKind,
  drain: drainKind,
  'wait-drain': waitDrainKind,
  activate: activateKind,
  smoke: smokeKind,
  ready: readyKind,
  flip: flipKind,
  watch: watchKind,
  expand: expandKind,
  'reverse-expand': reverseExpandKind,
  gate: gateKind,
  contract: contractKind,
  'restore-config': restoreConfigKind,
};

export function isStepKind(kind: unknown): kind is StepKind {
  return typeof kind === 'string' && (STEP_KINDS as readonly string[]).includes(kind);
}

export function stepKind(kind: StepKind): StepKindSpec {
  const spec = SPECS[kind];
  // Plans are checked for known kinds when read; a step that gets here would otherwise pass as done.
  if (!spec) throw new BugError(`no step kind ${JSON.stringify(kind)}`);
  return spec;
}

/** What the runner must know of a step of any kind, a DNS migration's included. */
export function stepTraits(kind: string): StepTraits {
  const spec = (SPECS as Record<string, StepTraits>)[kind] ?? (DNS_STEP_KINDS as Record<string, StepTraits>)[kind];
  if (!spec) throw new BugError(`no step kind ${JSON.stringify(kind)}`);
  return spec;
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

/** What is wrong with a step (and its undo steps) by its kind's shape: empty when nothing is. */
export function stepProblemList(step: Step, where = step.id ?? '?'): StepProblem[] {
  const s = step as unknown as Record<string, unknown>;
  const problems: StepProblem[] = [];
  const incomplete = (message: string) => problems.push({ kind: 'incomplete', message });
  if (typeof s.id !== 'string' || !s.id) incomplete(`${where}: no id`);
  if (typeof s.title !== 'string') incomplete(`${where}: no title`);
  if (!isStepKind(s.kind)) problems.push({ kind: 'newer-baton', message: `${where}: unknown step kind ${JSON.stringify(s.kind)} (made by a newer baton?)`, stepKind: String(s.kind) });
  else for (const field of stepKind(s.kind).requires) {
    const v = s[field];
    const ok = field === 'cluster' ? v === 'a' || v === 'b' : field === 'releases' ? isReleaseMap(v) : field === 'snapshot' ? typeof v === 'string' && /^[0-9a-f]{40,64}$/.test(v) : Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (ok) continue;
    if (field === 'releases' && isRecord(v)) problems.push({ kind: 'not-a-release', message: `${where}: a ${s.kind} step names a release that ${NOT_A_RELEASE}` });
    else incomplete(`${where}: a ${s.kind} step needs ${field}`);
  }
  if (s.vouchHealthy !== undefined && !(s.vouchHealthy === true && (s.kind === 'ready' || s.kind === 'flip'))) incomplete(`${where}: vouchHealthy is for a ready or flip step, and only true`);
  if (s.waitFor !== undefined && !(s.kind === 'wait-drain' && s.waitFor === 'sessions')) incomplete(`${where}: waitFor ${JSON.stringify(s.waitFor)} is not something a ${String(s.kind)} step can wait for`);
  if (!Array.isArray(s.undo)) return [...problems, { kind: 'incomplete', message: `${where}: no undo list` }];
  return [...problems, ...(s.undo as Step[]).flatMap((u, i) => stepProblemList(u, `${where}.undo[${i}]`))];
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
