// A plan file is evidence of what a reviewer saw, not instructions: before apply, resume or a
// rehearsal runs one, baton makes the same plan again from baton.yml, the plan's tag and commit
// and the state it was made from, and refuses any difference. A hash anyone can recompute proves
// nothing about where the steps came from; this does.
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { canaryInputOf } from '../../plans/canary.js';
import { buildContractPlan } from '../../plans/contract.js';
import { buildRestorePlan } from '../../plans/restore.js';
import { allHosts, type ClusterId, type Config, type HookName } from '../config/config.js';
import { BatonError, PlanRefusedError } from '../errors.js';
import {
  describeEnvironment,
  planHash,
  planHooks,
  planKindOf,
  type Plan,
  type PlanKind,
  type Step,
} from '../model/plan.js';
import { canonicalJson } from '../model/canonical.js';
import { stepIs } from '../model/step-kinds.js';
import { releaseFor } from '../model/release.js';
import { recipeDifferences, type PlanArtifact } from '../model/artifact.js';
import { verifyPlanHash } from './requirements.js';

// What a refusal says when the steps match and the plan still does not: only its header can differ.
const HEADER_ONLY = 'its recorded header (app, release, author, time or observed state) does not give its steps';
const HINT =
  'make a new plan with `baton plan TAG` from this baton.yml; ' +
  'if baton.yml changed since the plan was reviewed, that is the difference';

/**
 * Refuses (exit 3) a plan altered since it was made, or one baton.yml would not make: what apply, resume and rehearse
 * check first.
 */
export function checkPlan(plan: Plan, config: Config): void {
  verifyPlanHash(plan);
  rederivePlan(plan, config);
}

/** Refuses (exit 3) a plan that is not exactly the plan baton.yml makes from its tag, commit and observed state. */
export function rederivePlan(plan: Plan, config: Config): void {
  checkEnvironment(plan, config);
  const hookChanges = hookDifferences(plan, config);
  if (hookChanges.length) refuse("the plan's hooks or notifications are not baton.yml's", hookChanges);
  const foreign = outsideConfig(plan, config);
  if (foreign.length) refuse('the plan names what baton.yml does not', foreign);
  REDERIVE[planKindOf(plan)](plan, config);
}

/** How each kind of plan is made again from baton.yml, to compare with the one given. */
const REDERIVE: Record<PlanKind, (plan: Plan, config: Config) => void> = {
  push: rederivePush,
  // baton rollback reads the hosts and makes its plan at run time; a rollback's plan is only ever
  // resumed from the journal, and all of it is then checked against baton.yml (outsideConfig).
  rollback: () => undefined,
  // A contract is made from the ledger at run time too; only resumed from the journal: it must be the plan baton.yml
  // makes for that release.
  contract: rederiveContract,
  restore: rederiveRestore,
};

/**
 * A push: one of the plans baton.yml makes from its tag, commit and observed state (either cluster first, held or not).
 */
function rederivePush(plan: Plan, config: Config): void {
  let release;
  try {
    release = releaseFor(plan.release.tag, plan.release.commit);
  } catch (err) {
    return refuse("the plan's release cannot be made from its tag and commit", [(err as Error).message]);
  }
  if (release.dir !== plan.release.dir)
    refuse("the plan's release directory is not the one its tag and commit make", [
      `plan: ${show(plan.release.dir)}, baton: ${show(release.dir)}`,
    ]);

  // A forced push is made whole, as its maker asked: the reason is taken as recorded (the hash covers it).
  const forced = plan.forced ? { forced: plan.forced } : {};
  // The artifact's hash is what the build gave when the plan was made: taken as recorded (the hash
  // covers it; apply checks the bytes it sends against it), but only if baton.yml still builds it so.
  const artifact = plannedArtifact(plan, config);
  const candidates: Plan[] = [];
  for (const first of ['a', 'b'] as ClusterId[]) {
    for (const hold of [false, true]) {
      try {
        candidates.push(
          buildBlueGreenPlan({
            config,
            observed: plan.observed,
            release,
            createdBy: plan.createdBy,
            first,
            hold,
            now: new Date(plan.createdAt),
            ...forced,
            ...artifact,
            ...(plan.canary ? { canary: canaryInputOf(plan.canary) } : {}),
          }),
        );
      } catch (err) {
        if (!(err instanceof BatonError)) throw err;
        return refuse('baton.yml makes no plan from the state this plan was made from', [err.message]);
      }
    }
  }
  // Preflight's findings are what production measured, not something baton.yml makes: taken as recorded (the hash
  // covers them).
  const recorded = plan.preflight ? { preflight: plan.preflight } : {};
  if (candidates.some((c) => planHash({ ...c, ...recorded }) === plan.hash)) return;
  const firstDrained = (p: Plan) => p.forward.find((s) => stepIs(s, 'drainsCluster'))?.cluster;
  const sameFirst = candidates.filter((c) => firstDrained(c) === (firstDrained(plan) ?? 'a'));
  // A plan of steps where baton.yml makes none (every cluster already serves the release) has no first drain to match.
  const closest = (sameFirst.length ? sameFirst : candidates).sort(
    (x, y) => stepDifferences(plan.forward, x.forward).length - stepDifferences(plan.forward, y.forward).length,
  )[0] as Plan;
  const differences = stepDifferences(plan.forward, closest.forward);
  if (plan.app !== closest.app) differences.unshift(`app: plan ${show(plan.app)}, baton.yml ${show(closest.app)}`);
  if (!differences.length) differences.push(HEADER_ONLY);
  refuse('the plan is not the plan baton.yml makes from its tag, commit and observed state', differences);
}

/**
 * Refuses (exit 3) a plan made for another environment than this run's: staging's plan never runs on production, nor
 * the reverse.
 */
export function checkEnvironment(plan: Pick<Plan, 'environment'>, config: Pick<Config, 'environment'>): void {
  if (plan.environment === config.environment) return;
  const fix =
    plan.environment === undefined ? 'run it without -e (and without BATON_ENV)' : `run it with -e ${plan.environment}`;
  throw new PlanRefusedError(
    `the plan was made for ${describeEnvironment(plan.environment)}; ` +
      `this run is for ${describeEnvironment(config.environment)}`,
    `${fix}, or make a new plan for this environment with \`baton plan ` +
      `TAG${config.environment === undefined ? '' : ` -e ${config.environment}`}\``,
    [`environment: plan ${show(plan.environment ?? null)}, run ${show(config.environment ?? null)}`],
  );
}

/** Each hook and notification target that differs between the plan and baton.yml: a reviewer saw the plan's. */
function hookDifferences(plan: Plan, config: Config): string[] {
  const now = planHooks(config);
  const hooks = [...new Set([...Object.keys(plan.hooks ?? {}), ...Object.keys(now.hooks ?? {})])]
    .filter((name) => canonicalJson(plan.hooks?.[name as HookName]) !== canonicalJson(now.hooks?.[name as HookName]))
    .map((name) => {
      const cmd = (h: Plan['hooks']) => show(h?.[name as HookName] ?? null);
      return `hooks.${name}: plan ${cmd(plan.hooks)}, baton.yml ${cmd(now.hooks)}`;
    });
  const notify =
    canonicalJson(plan.notify ?? []) === canonicalJson(now.notify ?? [])
      ? []
      : [`notify: plan ${show(plan.notify ?? [])}, baton.yml ${show(now.notify ?? [])}`];
  return [...hooks, ...notify];
}

/**
 * The plan's artifact record for re-making it; refuses one baton.yml would not build, or no longer builds the same way.
 */
function plannedArtifact(plan: Plan, config: Config): { artifact?: PlanArtifact } {
  if (!plan.artifact) return {};
  if (!config.artifact) {
    refuse(
      'the plan deploys an artifact built once, and baton.yml has no artifact: ' +
        'section (each host would build the tag itself)',
      [`artifact: sha256 ${plan.artifact.sha256}`],
    );
  }
  const differences = recipeDifferences(plan.artifact, config.artifact);
  if (differences.length) refuse("the plan's artifact was built another way than baton.yml builds it now", differences);
  return { artifact: plan.artifact };
}

function rederiveRestore(plan: Plan, config: Config): void {
  const step = plan.forward.find((s) => stepIs(s, 'restoresConfig'));
  const host = step?.hosts?.[0];
  if (!step || !host || !step.snapshot)
    return refuse('the restore plan has no restore-config step naming a host and a snapshot', []);
  const snapshot = step.snapshot;
  remake(plan, 'restore plan', () => {
    const release = releaseFor(plan.release.tag, plan.release.commit);
    return buildRestorePlan({
      config,
      observed: plan.observed,
      host,
      snapshot,
      release,
      createdBy: plan.createdBy,
      now: new Date(plan.createdAt),
      ...plannedArtifact(plan, config),
    });
  });
}

function rederiveContract(plan: Plan, config: Config): void {
  remake(plan, 'contract plan', () =>
    buildContractPlan({
      config,
      observed: plan.observed,
      ledger: plan.release.dir,
      createdBy: plan.createdBy,
      now: new Date(plan.createdAt),
    }),
  );
}

/**
 * Makes the plan again with `build` (from its recorded inputs) and refuses (exit 3) when baton.yml makes none, or
 * another one; `what` names it in the refusal.
 */
function remake(plan: Plan, what: string, build: () => Plan): void {
  let made: Plan;
  try {
    made = build();
  } catch (err) {
    if (!(err instanceof BatonError)) throw err;
    return refuse(`baton.yml makes no ${what} from the state this plan was made from`, [err.message]);
  }
  if (made.hash === plan.hash) return;
  const differences = stepDifferences(plan.forward, made.forward);
  refuse(`the plan is not the ${what} baton.yml makes`, differences.length ? differences : [HEADER_ONLY]);
}

/** Hosts, members and the balancer a plan names that baton.yml does not, or configured hosts it leaves out. */
export function outsideConfig(plan: Plan, config: Config): string[] {
  const configured = new Map(allHosts(config).map((h) => [h.host, h.cluster]));
  const out: string[] = [];
  const b = plan.observed.balancer;
  const cb = config.balancer;
  if (b.driver !== cb.driver || b.host !== cb.host || b.backend !== cb.backend) {
    out.push(
      `balancer: plan ${show(`${b.driver} ${b.backend} on ${b.host}`)}, ` +
        `baton.yml ${show(`${cb.driver} ${cb.backend} on ${cb.host}`)}`,
    );
  }
  const observedHosts = new Set(plan.observed.hosts.map((h) => h.host));
  const members = new Set(plan.observed.hosts.map((h) => h.member));
  for (const h of plan.observed.hosts) {
    const cluster = configured.get(h.host);
    if (cluster === undefined) out.push(`host ${show(h.host)} is not in baton.yml`);
    else if (cluster !== h.cluster)
      out.push(`host ${show(h.host)} is in cluster ${cluster} in baton.yml, ${show(h.cluster)} in the plan`);
  }
  for (const host of configured.keys())
    if (!observedHosts.has(host)) out.push(`host ${show(host)} of baton.yml is not in the plan`);
  const walk = (s: Step, where: string) => {
    for (const host of [...(s.hosts ?? []), ...Object.keys(s.releases ?? {})]) {
      if (!configured.has(host)) out.push(`${where}: host ${show(host)} is not in baton.yml`);
    }
    for (const m of [...(s.members ?? []), ...(s.readyMembers ?? [])])
      if (!members.has(m)) out.push(`${where}: member ${show(m)} is not a member of baton.yml's hosts`);
    s.undo.forEach((u) => walk(u, `${where} (undo ${u.id})`));
  };
  plan.forward.forEach((s) => walk(s, `step ${s.id}`));
  return [...new Set(out)];
}

/** Step by step (by id), what the plan has that baton would not make, and the reverse. */
export function stepDifferences(planned: readonly Step[], made: readonly Step[]): string[] {
  const out: string[] = [];
  const madeBy = new Map(made.map((s) => [s.id, s]));
  const plannedIds = new Set(planned.map((s) => s.id));
  for (const s of planned) {
    const m = madeBy.get(s.id);
    if (!m) {
      out.push(`step ${show(s.id)} (${s.kind}) is in the plan; baton.yml makes no such step`);
      continue;
    }
    for (const field of new Set([...Object.keys(s), ...Object.keys(m)]) as Set<keyof Step>) {
      if (JSON.stringify(s[field]) !== JSON.stringify(m[field])) {
        out.push(
          field === 'undo'
            ? `step ${s.id}: its undo steps differ`
            : `step ${s.id}: ${field} is ${show(s[field])} in the plan, ${show(m[field])} from baton.yml`,
        );
      }
    }
  }
  for (const m of made)
    if (!plannedIds.has(m.id)) out.push(`step ${m.id} (${m.kind}) that baton.yml makes is missing from the plan`);
  if (!out.length && planned.map((s) => s.id).join() !== made.map((s) => s.id).join())
    out.push('the steps are in another order than baton.yml makes them');
  return out;
}

function refuse(what: string, details: string[]): never {
  const shown = details.slice(0, 12);
  const more = details.length > shown.length ? `\n  …and ${details.length - shown.length} more` : '';
  throw new PlanRefusedError(`${what}:\n  ${shown.join('\n  ')}${more}`, HINT, details);
}

/** A value from a plan file, quoted and cut short: JSON escapes whatever control characters it holds. */
function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}
