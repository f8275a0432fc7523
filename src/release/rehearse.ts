// A rehearsal: the plan's own steps carried out forward then reversed where no user sees them,
// checking that each ends where expected. On production that is the plan's first cluster, taken
// out of the pool for the rehearsal (never returned to it on the new release); against a staging
// baton.yml it is a whole push there and its whole reversal.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterId } from '../config/config.js';
import { PlanRefusedError, UserError, type RunEnd } from '../errors.js';
import { runPlan, type Outcome } from '../engine/run-plan.js';
import { runHooksFor } from '../engine/run-hooks.js';
import { clusterOfMembers } from '../engine/sampler.js';
import { describeDrift, observe, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import { type ObservedState, type Plan, type Rehearsal, type Step, reverseSteps } from '../model/plan.js';
import { stepIs } from '../model/step-kinds.js';
import { sessionStepRunner } from '../steps/index.js';
import type { ExpectedState } from '../steps/kind.js';
import { stepKind } from '../steps/registry.js';
import { releaseArchiveFor } from './planned-artifact.js';
import { actor, planPush, refuseDrift } from './push.js';
import { verifyPlanHash } from './requirements.js';
import { rehearsalMessage, type Signer } from './review-signatures.js';

export interface RehearsalSteps {
  forward: Step[];
  /** The undos of the forward steps, newest first. */
  reverse: Step[];
}

/**
 * The idle-side rehearsal of a production plan: its steps up to the smoke check of the first
 * cluster it switches, on that cluster only (staging narrowed to its hosts; a schema expand,
 * which the new release needs whichever host runs it, is kept whole). The step that
 * returns the cluster to the pool, and everything after, are left out: the new release never
 * takes public traffic. The reverse is the undo of exactly those steps.
 */
export function idleSideSteps(plan: Pick<Plan, 'forward'>): RehearsalSteps & { cluster: ClusterId } {
  const cluster = plan.forward.find((s) => s.cluster)?.cluster;
  const smoke = plan.forward.findIndex((s) => stepIs(s, 'smokeChecks') && s.cluster === cluster);
  if (!cluster || smoke < 0)
    throw new UserError(
      'this plan has no smoke-checked cluster to rehearse on',
      'rehearse it against a staging config with --against FILE',
    );
  const hosts = new Set(plan.forward.filter((s) => s.cluster === cluster).flatMap((s) => s.hosts ?? []));
  const forward = plan.forward
    .slice(0, smoke + 1)
    .filter((s) => (s.cluster === undefined || s.cluster === cluster) && !stepKind(s.kind).skipWhenRehearsingIdleSide)
    .map((s) => (s.cluster === undefined && !stepKind(s.kind).sharedByClusters ? narrow(s, hosts) : s))
    .filter((s) => s.hosts === undefined || s.hosts.length > 0);
  return { cluster, forward, reverse: reverseSteps(forward) };
}

/** A whole push rehearsed (staging): every step but the final unlock, so the lock is held until the reversal ends. */
export function wholePushSteps(plan: Pick<Plan, 'forward'>): RehearsalSteps {
  const forward = [...plan.forward];
  while (forward.length && stepIs(forward.at(-1)!, 'releasesLock')) forward.pop();
  return { forward, reverse: reverseSteps(forward) };
}

/** A step (and its undo) limited to some hosts. */
function narrow(step: Step, hosts: Set<string>): Step {
  if (!step.hosts) return step;
  const keep = step.hosts.filter((h) => hosts.has(h));
  return {
    ...step,
    hosts: keep,
    ...(step.releases
      ? { releases: Object.fromEntries(Object.entries(step.releases).filter(([h]) => hosts.has(h))) }
      : {}),
    undo: step.undo.map((u) => narrow(u, hosts)).filter((u) => u.hosts === undefined || u.hosts.length > 0),
    // The same kind with shorter lists: the spread over the union loses which kind it is.
  } as Step;
}

export type { ExpectedState };

/** Where steps leave each host and member, played over an observed state. */
export function expectedState(observed: ObservedState, steps: readonly Step[]): ExpectedState {
  const release: Record<string, string | null> = Object.fromEntries(observed.hosts.map((h) => [h.host, h.release]));
  const memberState: Record<string, string> = Object.fromEntries(observed.hosts.map((h) => [h.member, h.memberState]));
  const state: ExpectedState = { release, memberState };
  for (const s of steps) stepKind(s.kind).effect?.(s, state);
  return state;
}

/** How an observed state differs from the expected one, host by host and member by member. */
export function differences(expected: ExpectedState, now: ObservedState): string[] {
  return now.hosts.flatMap((h) => [
    ...(h.host in expected.release && expected.release[h.host] !== h.release
      ? [`${h.host}: expected ${expected.release[h.host] ?? 'nothing'}, runs ${h.release ?? 'nothing'}`]
      : []),
    ...(h.member in expected.memberState && expected.memberState[h.member] !== h.memberState
      ? [`${h.member}: expected ${expected.memberState[h.member]} in the pool, is ${h.memberState}`]
      : []),
  ]);
}

export interface RehearseOptions {
  reporter: Reporter;
  by?: string;
}

export interface RehearseResult {
  rehearsal: Rehearsal;
  /** The plan with this rehearsal added (to write back to its file). */
  plan: Plan;
  run: string;
  journal: string;
  /** Production (or staging) is not where it started: reversal failed or the end state differs. */
  needsAttention: boolean;
  /** How the run ended, as journaled: its exit code when it failed. */
  ended: RunEnd;
}

/** Rehearse a production plan on its first cluster, drained for the purpose. */
export async function rehearseOnIdleSide(session: Session, plan: Plan, opts: RehearseOptions): Promise<RehearseResult> {
  verifyPlanHash(plan);
  const steps = idleSideSteps(plan);
  return rehearse(session, plan, {
    ...opts,
    steps,
    baseline: plan.observed,
    against: `cluster ${steps.cluster} of production, out of the pool`,
  });
}

/** Rehearse against a staging baton.yml: the same tag pushed there in full, then reversed in full. */
export async function rehearseAgainst(
  staging: Session,
  plan: Plan,
  opts: RehearseOptions & { against: string },
): Promise<RehearseResult> {
  verifyPlanHash(plan);
  // Forced: staging may run the tag already (an earlier rehearsal), and a rehearsal that leaves it alone would prove
  // nothing.
  const made = await planPush(staging, plan.release.tag, {
    by: opts.by ?? actor(),
    force: `rehearsal of plan ${plan.hash.slice(0, 19)}: the whole push on staging, forward and reverse`,
  });
  if (made.plan.release.commit !== plan.release.commit) {
    throw new PlanRefusedError(
      `tag ${plan.release.tag} is ${made.plan.release.commit} for the staging repository, ` +
        `not ${plan.release.commit} as planned`,
      'stage from the same repository the plan was made from',
    );
  }
  return rehearse(staging, plan, {
    ...opts,
    steps: wholePushSteps(made.plan),
    baseline: made.observation.observed,
    fresh: made.observation,
  });
}

interface RunOptions extends RehearseOptions {
  steps: RehearsalSteps;
  /** The state forward must start from and reverse must return to. */
  baseline: ObservedState;
  against: string;
  /** An observation made a moment ago by the caller. */
  fresh?: Observation;
}

async function rehearse(session: Session, plan: Plan, opts: RunOptions): Promise<RehearseResult> {
  const { config } = session;
  const { steps } = opts;
  const look = () => observe(config, session.balancer, session.transports, session.addressOf);
  const work = mkdtempSync(join(tmpdir(), 'baton-rehearse-'));
  try {
    const [before, artifact] = await Promise.all([
      opts.fresh ?? look(),
      releaseArchiveFor(config, plan, join(work, `${plan.release.dir}.tar.gz`), session.transports),
    ]);
    refuseDrift(opts.baseline, before.observed);

    const by = opts.by ?? actor();
    const at = new Date().toISOString();
    const owner = { by, reason: `rehearse ${plan.release.tag}`, tag: plan.release.tag };
    const o = await runPlan(
      {
        runsOf: config,
        reporter: opts.reporter,
        lock: { lock: session.lock, leaseMs: config.lock.lease },
        sample: { balancer: session.balancer, clusterOf: clusterOfMembers(before.membership), reporter: opts.reporter },
        notes: [`rehearsal against ${opts.against}`],
        hooks: runHooksFor(config, plan, 'rehearse', { rehearsal: true }),
        stepRunner: (run) =>
          sessionStepRunner(session, before, { lockOwner: { ...owner, run }, release: plan.release, artifact }, steps),
      },
      { command: 'rehearse', hash: plan.hash, tag: plan.release.tag, by, steps: steps.forward },
      {
        rehearse: {
          reverse: steps.reverse,
          reason: 'rehearsal: forward done, now the way back',
          afterForward: async () =>
            differences(expectedState(opts.baseline, steps.forward), (await look()).observed).map(
              (d) => `after forward: ${d}`,
            ),
          afterReverse: async () =>
            describeDrift(opts.baseline, (await look()).observed).map((d) => `after reverse: ${d}`),
        },
      },
    );
    await opts.reporter.finish();

    const rehearsal = rehearsalRecord(o, { at, by, hash: plan.hash, against: opts.against }, steps);
    const ended: RunEnd = { outcome: o.outcome, productionChanged: o.productionChanged };
    return {
      rehearsal,
      plan: { ...plan, rehearsals: [...(plan.rehearsals ?? []), rehearsal] },
      run: o.run,
      journal: o.journal,
      needsAttention: o.outcome === 'needs-attention',
      ended,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** What the plan keeps of a rehearsal: when, by whom, against what, and whether both ways ended where expected. */
function rehearsalRecord(
  o: Outcome,
  made: Pick<Rehearsal, 'at' | 'by' | 'hash' | 'against'>,
  steps: RehearsalSteps,
): Rehearsal {
  const problems = o.problems ?? [];
  const passed = problems.length === 0;
  return {
    at: made.at,
    by: made.by,
    hash: made.hash,
    outcome: passed ? 'passed' : 'failed',
    against: made.against,
    forwardMs: o.forwardMs,
    reverseMs: o.reversalMs ?? 0,
    detail: passed
      ? `forward ${steps.forward.length} steps and reverse ${steps.reverse.length} ended where expected; run ${o.run}`
      : problems.join('; '),
  };
}

/** The rehearsal just recorded, signed by whoever ran it: the signature binds the plan hash and the outcome. */
export async function signRehearsal<T extends { rehearsal: Rehearsal; plan: Plan }>(r: T, sign: Signer): Promise<T> {
  const rehearsal = { ...r.rehearsal, ...(await sign(rehearsalMessage(r.rehearsal))) };
  return { ...r, rehearsal, plan: { ...r.plan, rehearsals: [...(r.plan.rehearsals ?? []).slice(0, -1), rehearsal] } };
}
