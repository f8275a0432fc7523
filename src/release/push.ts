// The push service: resolve the tag, observe production, build the blue/green plan, and carry
// it out with the journal and the lock. Commands call these; nothing here renders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { canaryInput } from './canary-input.js';
import { allHosts, type ClusterId, type Config } from '../config/config.js';
import { refusals } from '../checks/preflight.js';
import { LockHeldError, PlanRefusedError } from '../errors.js';
import { describeDrift, observe, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import { changesNothing, sealPlan, type Plan, type PlanPreflight } from '../model/plan.js';
import { checkTagName, releaseFor } from '../model/release.js';
import { stepKind } from '../steps/registry.js';
import { resolveTag } from '../vcs/git.js';
import { buildPlannedArtifact, prepareArtifact, releaseArchiveFor, type PreparedArtifact } from './planned-artifact.js';
import { actor } from './actor.js';
import { carryOut, type ApplyResult } from './carry-out.js';
import { checkPlan } from './rederive.js';
import { preflightRefusal, runPreflight } from './preflight.js';
import { checkRequirements } from './requirements.js';
import { checkNoDriftSince, recordSnapshot } from '../config-track/plan-record.js';

export { actor };
export type { ApplyResult };

export interface PlanOptions {
  first?: ClusterId;
  by?: string;
  /** The push will stop once the first cluster is back (`push --hold`). */
  hold?: boolean;
  /**
   * Make the plan although preflight refused; this reason (and who gave it) is recorded in the plan and journaled when
   * it runs.
   */
  overridePreflight?: string;
  /**
   * `--force REASON`: plan the whole push although clusters already run and serve the release (to restart them, say);
   * recorded in the plan with who gave it, and journaled.
   */
  force?: string;
  /** Export the release archive while observing and planning (`push` applies the plan at once). */
  prepareArtifact?: boolean;
  /** Told what is under way before the plan exists (a person at a terminal sees something from the first second). */
  progress?: (line: string) => void;
}

/**
 * Resolve the tag, observe production and run preflight (all read-only, at once), then build
 * the plan with preflight's findings in it. Refuses (exit 6) when preflight refused, unless overridden
 * (a host that cannot be reached fails observe first: exit 1).
 */
export async function planPush(
  session: Session,
  tag: string,
  opts: PlanOptions = {},
): Promise<{ plan: Plan; observation: Observation; artifact?: PreparedArtifact }> {
  const { config } = session;
  checkTagName(tag); // before any host is asked anything: a bad tag must not wait on a slow one
  const started = Date.now();
  opts.progress?.(`reading tag ${tag} and production: ${describeReach(config)}; preflight`);
  const { resolved, observation, snapshot, report, artifact } = await readForPlan(session, tag, opts);
  opts.progress?.(`read in ${((Date.now() - started) / 1000).toFixed(1)} s: planning`);
  const release = releaseFor(resolved.tag, resolved.commit);
  const observed = snapshot ? { ...observation.observed, snapshot } : observation.observed;
  const by = opts.by ?? actor();
  try {
    const forced = opts.force !== undefined ? { forced: { reason: opts.force, by } } : {};
    const built = artifact?.record ? { artifact: artifact.record } : {};
    const canary = await canaryInput(config, session.balancer);
    const plan = buildBlueGreenPlan({
      config,
      observed,
      release,
      createdBy: by,
      ...(opts.first ? { first: opts.first } : {}),
      ...(opts.hold ? { hold: true } : {}),
      ...forced,
      ...built,
      ...canary,
    });
    // Nothing runs, so nothing preflight checks is needed: its findings are kept and shown, not a refusal.
    if (changesNothing(plan)) {
      artifact?.dispose();
      return { plan: withPreflight(plan, { findings: report.findings }), observation };
    }
    const prepared = artifact && opts.prepareArtifact ? { artifact } : {};
    return {
      plan: withPreflight(plan, preflightRecord(report.findings, by, opts.overridePreflight)),
      observation,
      ...prepared,
    };
  } catch (err) {
    artifact?.dispose();
    throw await pushUnderWay(session, err);
  }
}

/**
 * Everything a push plan is made from, read at once: the tag, production, the configuration
 * snapshot and preflight, and (with artifact: or `prepareArtifact`) the exported release.
 */
async function readForPlan(session: Session, tag: string, opts: PlanOptions) {
  const { config } = session;
  const resolving = resolveTag(config.app.repo, tag, { requireSigned: config.app.signedTags });
  // With artifact: the plan records the artifact's hash, so every plan builds it (or finds it in the cache) while
  // production is read.
  const exporting = config.artifact
    ? buildPlannedArtifact(config, session.transports, resolving, opts.progress)
    : opts.prepareArtifact
      ? prepareArtifact(config, resolving)
      : undefined;
  // Preflight never throws (a failed read is a finding): a missing tag or an unreachable host fails here through
  // resolveTag and observe, as before.
  const [read, exported] = await Promise.allSettled([
    Promise.all([
      resolving,
      observe(config, session.balancer, session.transports, session.addressOf),
      recordSnapshot(config, session.transports),
      runPreflight(session, tag, {
        resolved: resolving,
        ...(exporting && config.artifact ? { artifact: exporting.then((a) => a.record) } : {}),
      }),
    ]),
    exporting,
  ]);
  const artifact = exported.status === 'fulfilled' ? exported.value : undefined;
  // Whatever failed, an archive already exported is removed, not left behind.
  if (read.status === 'rejected' || exported.status === 'rejected') {
    artifact?.dispose();
    throw read.status === 'rejected' ? read.reason : (exported as PromiseRejectedResult).reason;
  }
  const [resolved, observation, snapshot, report] = read.value;
  return { resolved, observation, snapshot, report, artifact };
}

/**
 * A plan that could not be made because a cluster is out of the pool is usually another push under way: then that is
 * the answer (exit 4).
 */
async function pushUnderWay(session: Session, err: unknown): Promise<unknown> {
  const holder = await session.lock.read().catch(() => null);
  if (holder && holder.run !== undefined) {
    return new LockHeldError(
      `release lock on ${session.config.balancer.host} is held by ${holder.by} ` +
        `since ${holder.since}${holder.tag ? ` (pushing ${holder.tag})` : ''}: ${holder.reason}; ` +
        `production is part-way through that run (${(err as Error).message})`,
      { ...holder },
    );
  }
  return err;
}

/** "connecting to 6 hosts (lb1.example.com and 4 app hosts)": what a push reaches before it plans. */
function describeReach(config: Config): string {
  const balancers = [config.balancer.host, ...(config.balancer.peers ?? [])];
  const apps = allHosts(config).length;
  return (
    `connecting to ${balancers.length + apps} hosts (${balancers.join(', ')} and ${apps} app ` +
    `host${apps === 1 ? '' : 's'})`
  );
}

/**
 * Preflight's findings for the plan; throws PreflightRefusedError on a refusal no reason overrides (exit 6; 1 for a
 * host that cannot be reached).
 */
function preflightRecord(findings: PlanPreflight['findings'], by: string, override: string | undefined): PlanPreflight {
  const refused = preflightRefusal({ findings });
  if (!refused) return { findings };
  if (override === undefined || override.trim() === '') throw refused;
  return { findings, overridden: { reason: override, by } };
}

// The plan sealed again with preflight's record in it: the hash covers what preflight found.
function withPreflight(plan: Plan, preflight: PlanPreflight): Plan {
  const { hash: _hash, format: _format, observedDigest: _digest, ...parts } = plan;
  return sealPlan({ ...parts, preflight });
}

export interface ApplyOptions {
  reporter: Reporter;
  by?: string;
  /** Stop after the first cluster is back in the pool (`push --hold`). */
  hold?: boolean;
  /** The observation the plan was made from a moment ago by the same command (`push`): no need to look again. */
  fresh?: Observation;
  /** The release archive exported while the plan was made (`push`); removed when the run ends. */
  artifact?: PreparedArtifact;
  /** Lines recorded in the journal right after the run begins. */
  notes?: string[];
  /** Run even if the plan lacks the rehearsal or approvals baton.yml requires; this reason is journaled. */
  overrideRequirements?: string;
  /** Run even if a host's tracked configuration changed since the plan was made; this reason is journaled. */
  acceptDrift?: string;
  /** Called once the plan has passed its checks, before production is observed (`apply --lock-wait`). */
  beforeObserving?: () => Promise<void>;
}

// A run of a plan preflight refused says so in its journal, with who overrode it and why.
function preflightNotes(plan: Plan): string[] {
  const overridden = plan.preflight?.overridden;
  if (!overridden) return [];
  const refused = refusals(plan.preflight!).map((f) => f.message);
  return [
    `preflight refused and was overridden by ${overridden.by}: ${overridden.reason} (refused: ${refused.join('; ')})`,
  ];
}

// A forced push says so in its journal, with who forced it and why.
function forcedNotes(plan: Plan): string[] {
  const forced = plan.forced;
  return forced
    ? [
        `pushed whole by force (${forced.by}): ${forced.reason}; ` +
          `a cluster already running and serving ${plan.release.dir} was not left alone`,
      ]
    : [];
}

/**
 * `apply` of a plan that changes nothing: checked like any plan (unaltered, the plan baton.yml
 * makes, production still as it was: a stale "No changes" is refused, exit 3), then nothing runs,
 * so no lock, journal, rehearsal or approval is needed.
 */
export async function checkNothingToDo(session: Session, plan: Plan): Promise<void> {
  checkPlan(plan, session.config);
  const now = await observe(session.config, session.balancer, session.transports, session.addressOf);
  refuseDrift(plan.observed, now.observed);
}

/** Refuses (exit 3) a plan made from a state production is no longer in, naming what changed. */
export function refuseDrift(planned: Plan['observed'], now: Plan['observed']): void {
  const drift = describeDrift(planned, now);
  if (drift.length)
    throw new PlanRefusedError(
      `production changed since the plan was made:\n  ${drift.join('\n  ')}`,
      'make a new plan with `baton plan TAG`',
      drift,
    );
}

/** Carry out exactly this plan; refuses (exit 3) an altered plan or one whose live state drifted. */
export async function applyPlan(session: Session, plan: Plan, opts: ApplyOptions): Promise<ApplyResult> {
  try {
    return await checkAndCarryOut(session, plan, opts);
  } finally {
    opts.artifact?.dispose();
  }
}

async function checkAndCarryOut(session: Session, plan: Plan, opts: ApplyOptions): Promise<ApplyResult> {
  const { config } = session;
  checkPlan(plan, config);
  const notes = [
    ...(await checkRequirements(plan, config.require, { by: opts.by ?? actor(), override: opts.overrideRequirements })),
    ...preflightNotes(plan),
    ...forcedNotes(plan),
    ...(opts.notes ?? []),
  ];
  await opts.beforeObserving?.();
  const work = mkdtempSync(join(tmpdir(), 'baton-'));
  // What push built or exported a moment ago, if it is what the plan names (with artifact: the same bytes).
  const prepared =
    opts.artifact?.commit === plan.release.commit && opts.artifact.record?.sha256 === plan.artifact?.sha256
      ? opts.artifact
      : undefined;
  const stages = plan.forward.some((s) => stepKind(s.kind).needsArtifact);
  try {
    const by = opts.by ?? actor();
    if (!opts.fresh && config.track && !plan.observed.snapshot) {
      throw new PlanRefusedError(
        "the plan records no snapshot of the hosts' tracked configuration, and baton.yml tracks it (track:)",
        'make a new plan with `baton plan TAG`: it records the snapshot apply compares with',
      );
    }
    const [observation, archive, driftNotes] = await Promise.all([
      opts.fresh ?? observe(config, session.balancer, session.transports, session.addressOf),
      stages && !prepared
        ? releaseArchiveFor(config, plan, join(work, `${plan.release.dir}.tar.gz`), session.transports)
        : prepared?.file,
      // push made its plan a moment ago: nothing to compare. A reviewed plan: no host may have drifted since.
      !opts.fresh && plan.observed.snapshot
        ? checkNoDriftSince(
            config,
            session.transports,
            plan.observed.snapshot,
            opts.acceptDrift !== undefined ? { by, reason: opts.acceptDrift } : undefined,
          )
        : [],
    ]);
    notes.push(...driftNotes);
    if (!opts.fresh) refuseDrift(plan.observed, observation.observed);
    return await carryOut(session, plan, {
      command: opts.fresh ? 'push' : 'apply',
      reporter: opts.reporter,
      observation,
      ...(stages && archive ? { artifact: archive } : {}),
      ...(opts.by ? { by: opts.by } : {}),
      ...(opts.hold ? { hold: true } : {}),
      ...(notes.length ? { notes } : {}),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
