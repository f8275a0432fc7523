// The push service: resolve the tag, observe production, build the blue/green plan, and carry
// it out with the journal and the lock. Commands call these; nothing here renders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { ClusterId } from '../config/config.js';
import { LockHeldError, PlanRefusedError } from '../errors.js';
import { describeDrift, observe, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import type { Plan } from '../model/plan.js';
import { checkTagName, releaseFor } from '../model/release.js';
import { stepKind } from '../steps/registry.js';
import { resolveTag } from '../vcs/git.js';
import { exportPlannedRelease } from './planned-artifact.js';
import { actor } from './actor.js';
import { carryOut, type ApplyResult } from './carry-out.js';
import { checkPlan } from './rederive.js';
import { checkRequirements } from './requirements.js';
import { checkNoDriftSince, recordSnapshot } from '../config-track/plan-record.js';

export { actor };
export type { ApplyResult };

export interface PlanOptions {
  first?: ClusterId;
  by?: string;
  /** The push will stop once the first cluster is back (`push --hold`). */
  hold?: boolean;
}

/** Resolve the tag and observe production (both read-only, at once), then build the plan. */
export async function planPush(session: Session, tag: string, opts: PlanOptions = {}): Promise<{ plan: Plan; observation: Observation }> {
  const { config } = session;
  checkTagName(tag); // before any host is asked anything: a bad tag must not wait on a slow one
  const [resolved, observation, snapshot] = await Promise.all([
    resolveTag(config.app.repo, tag, { requireSigned: config.app.signedTags }),
    observe(config, session.balancer, session.transports, session.addressOf),
    recordSnapshot(config, session.transports),
  ]);
  const release = releaseFor(resolved.tag, resolved.commit);
  const observed = snapshot ? { ...observation.observed, snapshot } : observation.observed;
  try {
    const plan = buildBlueGreenPlan({ config, observed, release, createdBy: opts.by ?? actor(), ...(opts.first ? { first: opts.first } : {}), ...(opts.hold ? { hold: true } : {}) });
    return { plan, observation };
  } catch (err) {
    // A cluster out of the pool is usually another push under way: then that is the answer (exit 4).
    const holder = await session.lock.read().catch(() => null);
    if (holder && holder.run !== undefined) {
      throw new LockHeldError(
        `release lock on ${config.balancer.host} is held by ${holder.by} since ${holder.since}${holder.tag ? ` (pushing ${holder.tag})` : ''}: ${holder.reason}; production is part-way through that run (${(err as Error).message})`,
        { ...holder },
      );
    }
    throw err;
  }
}

export interface ApplyOptions {
  reporter: Reporter;
  by?: string;
  /** Stop after the first cluster is back in the pool (`push --hold`). */
  hold?: boolean;
  /** The observation the plan was made from a moment ago by the same command (`push`): no need to look again. */
  fresh?: Observation;
  /** Lines recorded in the journal right after the run begins. */
  notes?: string[];
  /** Run even if the plan lacks the rehearsal or approvals baton.yml requires; this reason is journaled. */
  overrideRequirements?: string;
  /** Run even if a host's tracked configuration changed since the plan was made; this reason is journaled. */
  acceptDrift?: string;
  /** Called once the plan has passed its checks, before production is observed (`apply --lock-wait`). */
  beforeObserving?: () => Promise<void>;
}

/** Carry out exactly this plan; refuses (exit 3) an altered plan or one whose live state drifted. */
export async function applyPlan(session: Session, plan: Plan, opts: ApplyOptions): Promise<ApplyResult> {
  const { config } = session;
  checkPlan(plan, config);
  const notes = [...(await checkRequirements(plan, config.require, { by: opts.by ?? actor(), override: opts.overrideRequirements })), ...(opts.notes ?? [])];
  await opts.beforeObserving?.();
  const work = mkdtempSync(join(tmpdir(), 'baton-'));
  const artifact = join(work, `${plan.release.dir}.tar.gz`);
  const stages = plan.forward.some((s) => stepKind(s.kind).needsArtifact);
  try {
    const by = opts.by ?? actor();
    if (!opts.fresh && config.track && !plan.observed.snapshot) {
      throw new PlanRefusedError('the plan records no snapshot of the hosts\' tracked configuration, and baton.yml tracks it (track:)', 'make a new plan with `baton plan TAG`: it records the snapshot apply compares with');
    }
    const [observation, , driftNotes] = await Promise.all([
      opts.fresh ?? observe(config, session.balancer, session.transports, session.addressOf),
      stages ? exportPlannedRelease(config, plan.release, artifact) : undefined,
      // push made its plan a moment ago: nothing to compare. A reviewed plan: no host may have drifted since.
      !opts.fresh && plan.observed.snapshot ? checkNoDriftSince(config, session.transports, plan.observed.snapshot, opts.acceptDrift !== undefined ? { by, reason: opts.acceptDrift } : undefined) : [],
    ]);
    notes.push(...driftNotes);
    if (!opts.fresh) {
      const drift = describeDrift(plan.observed, observation.observed);
      if (drift.length) {
        throw new PlanRefusedError(`production changed since the plan was made:\n  ${drift.join('\n  ')}`, 'make a new plan with `baton plan TAG`', drift);
      }
    }
    return await carryOut(session, plan, {
      command: opts.fresh ? 'push' : 'apply',
      reporter: opts.reporter,
      observation,
      ...(stages ? { artifact } : {}),
      ...(opts.by ? { by: opts.by } : {}),
      ...(opts.hold ? { hold: true } : {}),
      ...(notes.length ? { notes } : {}),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
