// The one reader and writer of plan files: a review's plan, and the copy a run keeps beside its
// journal. Written whole or not at all (temp file, fsync, rename), always in the same bytes for
// the same plan; read back with every step checked against its kind's shape.
import { readFileSync } from 'node:fs';
import { ENVIRONMENT_NAME } from '../config/environment.js';
import { writeFileDurably } from '../transport/durable-file.js';
import { PlanRefusedError, UserError } from '../errors.js';
import { isPlanCanary } from './canary.js';
import { stepProblemList, type StepProblem } from './step-kinds.js';
import { isPlanKind, PLAN_FORMAT, type Plan } from './plan.js';
import { isReleaseDirName, NOT_A_RELEASE } from './release.js';

// Top-level keys in the order they are written: the hashed content, its hash, then the review records.
const KEY_ORDER = [
  'format',
  'kind',
  'app',
  'environment',
  'release',
  'artifact',
  'createdAt',
  'createdBy',
  'observed',
  'observedDigest',
  'forward',
  'preflight',
  'forced',
  'hooks',
  'notify',
  'canary',
  'hash',
  'author',
  'approvals',
  'rehearsals',
] as const;

/** The plan file's text: the same plan always gives the same bytes. */
export function planFileText(plan: Plan): string {
  const ordered = Object.fromEntries(KEY_ORDER.filter((k) => plan[k] !== undefined).map((k) => [k, plan[k]]));
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Write the plan file whole or not at all, durable before it is used: a kill never leaves half a plan. */
export function writePlanFile(file: string, plan: Plan): void {
  writeFileDurably(file, planFileText(plan));
}

/** A step's problem, or data that is no baton plan at all (not JSON of one, another format). */
export type PlanProblem = StepProblem | { kind: 'not-a-plan'; message: string };

/** What is wrong with data read as a plan: empty when it is a plan this baton can carry out. */
export function planProblemList(data: unknown): PlanProblem[] {
  const p = data as Partial<Plan> | null;
  const incomplete = (message: string): PlanProblem => ({ kind: 'incomplete', message });
  if (!p || typeof p !== 'object' || Array.isArray(p)) return [{ kind: 'not-a-plan', message: 'not a JSON object' }];
  if (p.format !== PLAN_FORMAT)
    return [
      {
        kind: 'not-a-plan',
        message:
          `${'format' in p ? `format ${JSON.stringify(p.format)}` : 'no format field'}; ` +
          `this baton reads ${PLAN_FORMAT}`,
      },
    ];
  const problems: PlanProblem[] = [];
  if (typeof p.hash !== 'string') problems.push(incomplete('no hash'));
  if (
    !p.release ||
    typeof p.release.tag !== 'string' ||
    typeof p.release.commit !== 'string' ||
    typeof p.release.dir !== 'string'
  )
    problems.push(incomplete('no release'));
  else if (!isReleaseDirName(p.release.dir))
    problems.push({
      kind: 'not-a-release',
      message: `release directory ${JSON.stringify(p.release.dir)} ${NOT_A_RELEASE}`,
    });
  if (!Array.isArray(p.observed?.hosts)) problems.push(incomplete('no observed state'));
  else {
    for (const h of p.observed.hosts as unknown[]) {
      const o = h as { host?: unknown; release?: unknown } | null;
      if (!o || typeof o.host !== 'string') problems.push(incomplete('an observed host without a name'));
      else if (o.release !== null && !isReleaseDirName(o.release))
        problems.push({
          kind: 'not-a-release',
          message: `observed host ${JSON.stringify(o.host)} runs ${JSON.stringify(o.release)}, which ${NOT_A_RELEASE}`,
        });
    }
  }
  const snapshot = (p.observed as { snapshot?: unknown } | undefined)?.snapshot;
  if (snapshot !== undefined && !isSnapshotRecord(snapshot))
    problems.push(incomplete('a snapshot record that is not {commit, hosts}'));
  if (p.kind !== undefined && !isPlanKind(p.kind))
    problems.push(incomplete(`unknown plan kind ${JSON.stringify(p.kind)}`));
  if (p.environment !== undefined && !(typeof p.environment === 'string' && ENVIRONMENT_NAME.test(p.environment)))
    problems.push(incomplete('an environment that is not an environment name'));
  if (p.preflight !== undefined) problems.push(...preflightProblems(p.preflight).map(incomplete));
  if (p.artifact !== undefined && !isPlanArtifact(p.artifact))
    problems.push(incomplete('an artifact record that is not {sha256, bytes, files, compression}'));
  if (p.forced !== undefined && (typeof p.forced?.reason !== 'string' || typeof p.forced?.by !== 'string'))
    problems.push(incomplete('a forced push without a reason and who gave it'));
  if (p.canary !== undefined && !isPlanCanary(p.canary))
    problems.push(incomplete('a canary record that is not {steps, analysis, range, scope, weights}'));
  if (!Array.isArray(p.forward)) return [...problems, incomplete('no forward steps')];
  return [
    ...problems,
    ...p.forward.flatMap((s, i) => stepProblemList(s, `forward[${i}] ${typeof s?.id === 'string' ? s.id : ''}`.trim())),
  ];
}

const OUTCOMES = new Set(['ok', 'refused', 'unchecked']);

// The preflight record is shown to reviewers and rendered: every finding must be one they can read.
function preflightProblems(preflight: unknown): string[] {
  const pf = preflight as { findings?: unknown; overridden?: { reason?: unknown; by?: unknown } } | null;
  if (!pf || typeof pf !== 'object' || !Array.isArray(pf.findings)) return ['preflight without findings'];
  const problems = (pf.findings as unknown[]).flatMap((f, i) => {
    const x = f as { check?: unknown; outcome?: unknown; message?: unknown; host?: unknown } | null;
    const ok =
      x &&
      typeof x.check === 'string' &&
      typeof x.message === 'string' &&
      OUTCOMES.has(x.outcome as string) &&
      (x.host === undefined || typeof x.host === 'string');
    return ok ? [] : [`preflight finding ${i} is not a check, an outcome (ok, refused, unchecked) and a message`];
  });
  if (
    pf.overridden !== undefined &&
    (typeof pf.overridden?.reason !== 'string' || typeof pf.overridden?.by !== 'string')
  )
    problems.push('preflight override without a reason and who gave it');
  return problems;
}

/** The same, as sentences. */
export function planProblems(data: unknown): string[] {
  return planProblemList(data).map((p) => p.message);
}

/** A plan file read and checked: the plan, or why it cannot be used (unreadable JSON: `unreadable`). */
export function loadPlanFile(
  file: string,
): { plan: Plan } | { problems: string[]; found?: PlanProblem[]; unreadable?: string } {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return { problems: [(err as Error).message], unreadable: (err as Error).message };
  }
  const problems = planProblemList(data);
  return problems.length ? { problems: problems.map((p) => p.message), found: problems } : { plan: data as Plan };
}

/** Read a plan file; refuses (exit 64) what is not a whole `baton-plan/1` file this baton can carry out. */
export function readPlanFile(file: string): Plan {
  const loaded = loadPlanFile(file);
  if ('plan' in loaded) return loaded.plan;
  if (loaded.unreadable !== undefined)
    throw new UserError(`cannot read plan ${file}: ${loaded.unreadable}`, 'write one with `baton plan TAG -o FILE`');
  const found = loaded.found ?? [];
  const list = (ps: PlanProblem[]) =>
    `${ps
      .slice(0, 5)
      .map((p) => p.message)
      .join('; ')}${ps.length > 5 ? `; and ${ps.length - 5} more` : ''}`;
  const newer = found.filter((p): p is StepProblem => p.kind === 'newer-baton');
  if (newer.length && newer.length === found.length) {
    const kinds = [...new Set(newer.map((p) => p.stepKind ?? '?'))];
    throw new UserError(
      `${file} has steps this baton cannot carry out (${kinds.join(', ')}): it was made by a newer baton`,
      'apply it with the baton that made it, or make a new plan with this one',
    );
  }
  // A plan whose values would reach a host as paths it must not (`..`, `/`) is not incomplete: it is refused.
  const hostile = found.filter((p) => p.kind === 'not-a-release');
  if (hostile.length)
    throw new PlanRefusedError(
      `${file} is refused: ${list(hostile)}`,
      'make a new plan with `baton plan TAG -o FILE`',
      hostile.map((p) => p.message),
    );
  const notAPlan = found.find((p) => p.kind === 'not-a-plan');
  if (notAPlan)
    throw new UserError(`${file} is not a baton plan (${notAPlan.message})`, 'write one with `baton plan TAG -o FILE`');
  const problems = found;
  throw new UserError(
    `${file} is not a complete baton plan: ${list(problems)}`,
    'make a new plan with `baton plan TAG -o FILE`',
  );
}

function isSnapshotRecord(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { commit?: unknown; hosts?: unknown };
  const commitOk = r.commit === null || (typeof r.commit === 'string' && /^[0-9a-f]{40,64}$/.test(r.commit));
  return (
    commitOk &&
    typeof r.hosts === 'object' &&
    r.hosts !== null &&
    Object.values(r.hosts).every((d) => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d))
  );
}

function isPlanArtifact(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  return (
    typeof a.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(a.sha256) &&
    Number.isSafeInteger(a.bytes) &&
    Number.isSafeInteger(a.files) &&
    (a.compression === 'gzip' || a.compression === 'zstd') &&
    (a.build === undefined || typeof a.build === 'string') &&
    (a.host === undefined || typeof a.host === 'string') &&
    (a.unpackedBytes === undefined || Number.isSafeInteger(a.unpackedBytes)) &&
    (a.paths === undefined || (Array.isArray(a.paths) && a.paths.every((x) => typeof x === 'string')))
  );
}
