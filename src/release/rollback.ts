// Rollback: decide the release each host returns to — the state the last push started from
// (from its plan beside the journal), else each host's newest other release that is not marked
// bad — and build the converge plan that gets there with drain, smoke and flip.
//
// A held or interrupted push is the case where seconds count: the journal says which cluster the
// push never touched, so the plan is made from the balancer alone and the first flip (a drain
// that sends all traffic to the cluster that was serving anyway) does not wait for the hosts;
// their releases are read meanwhile and checked before any host is changed.
import { buildRollbackPlan, describeRollback, type RollbackPlan } from '../../plans/rollback.js';
import type { Config } from '../config/config.js';
import { OperationFailedError, PlanRefusedError } from '../errors.js';
import { newRunId, type RunsOf } from '../engine/journal.js';
import { assemble, readReleases, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import type { Member } from '../balancers/types.js';
import { PLAN_KIND_TRAITS, planKindOf } from '../model/plan.js';
import { stepIs } from '../model/step-kinds.js';
import type { AnyStep } from '../model/steps.js';
import { appPaths, listReleases } from '../model/host-commands.js';
import { forEachHost } from '../transport/fan-out.js';
import { actor } from './actor.js';
import { BadReleases } from './bad-releases.js';
import { carryOut, type ApplyResult } from './carry-out.js';
import { newestRunEntry, type RunEntry, type RunRecord } from './last-run.js';

export interface RollbackProposal {
  run: string;
  plan: RollbackPlan;
  observation: Observation;
  targets: Record<string, string>;
  /** The release being left (marked bad once the rollback succeeds). */
  from?: string;
  /** Where the targets came from. */
  source: string;
  /** The interrupted run being cleaned up after, whose lock may be taken over. */
  interruptedRun?: string;
  /**
   * Resolves once the hosts' releases are confirmed to be what the plan assumed (fast path), or rejects naming the
   * difference.
   */
  verify: () => Promise<void>;
  /** The lock was taken while proposing (no confirmation asked). */
  locked: boolean;
  /** Lines the run journals right after it begins (a landing on a bad release, forced, and why). */
  notes: string[];
  summary: string;
}

/**
 * The newest run a rollback would undo: not a rollback, a contract (it changes no host's release)
 * or a restore, nor a run that ended having done nothing (a push refused at the lock another run
 * holds): the run that holds it, and left production part-way, is the one to undo.
 */
export function newestRunToUndo(configDir: RunsOf) {
  return newestRunEntry(
    configDir,
    (r) =>
      !(r.state.outcome === 'reversed' && r.state.completed.length === 0) &&
      (!r.plan || PLAN_KIND_TRAITS[planKindOf(r.plan)].undoneByRollback),
  );
}

/**
 * The run whose lock a rollback takes over: the newest run to undo when it is over without having
 * put production back (killed, held, or its reversal failed). `rollback --lock-wait` does not wait for it.
 */
export function rollbackTakesOverLockOf(configDir: RunsOf): string | undefined {
  return lockOfRun(newestRunToUndo(configDir));
}

function lockOfRun(r: { run: string; state: { outcome?: string } } | undefined): string | undefined {
  const orphaned =
    r !== undefined &&
    (r.state.outcome === undefined || r.state.outcome === 'held' || r.state.outcome === 'needs-attention');
  return orphaned ? r.run : undefined;
}

/**
 * What a rollback reads of the balancer whatever run it undoes, started by `readBalancerEarly` while the run record is
 * read: neither depends on the record, and the first flip needs both.
 */
export interface BalancerReadings {
  members: Promise<Member[]>;
  bad: Promise<Set<string>>;
}

/** Starts the balancer's readings (a reading that fails is reported where it is awaited, never as unhandled). */
export function readBalancerEarly(session: Session): BalancerReadings {
  const members = session.balancer.members();
  const bad = new BadReleases(session.transports.get(session.config.balancer.host), session.config).list();
  for (const p of [members, bad]) p.catch(() => undefined);
  return { members, bad };
}

export interface RollbackOptions {
  by?: string;
  lockEarly?: boolean;
  /** The balancer's readings, already under way (read here otherwise). */
  early?: BalancerReadings;
  /** `--to TAG`: return to this tag's release (each host must still keep it) instead of the one before. */
  to?: string;
  /** `--force REASON`: land on a release marked bad anyway (journaled with who and why). */
  force?: string;
}

export async function proposeRollback(session: Session, opts: RollbackOptions = {}): Promise<RollbackProposal> {
  const run = newRunId();
  try {
    return await propose(session, run, opts);
  } catch (err) {
    // A lock taken early must not outlive a proposal that failed.
    if (opts.lockEarly) await session.lock.release(run).catch(() => undefined);
    throw err;
  }
}

async function propose(session: Session, run: string, opts: RollbackOptions): Promise<RollbackProposal> {
  const { config } = session;
  const by = opts.by ?? actor();
  const bad = new BadReleases(session.transports.get(config.balancer.host), config);
  const { newest, last, interrupted, unreadable } = journalOfLastPush(config, opts);
  // The lock of a run that is over without having put production back (killed, or its reversal failed) is this
  // rollback's to take.
  const lockedBy = lockOfRun(newest);

  // Fast path: the hosts are read only once the first drain is on its way (their SSH handshakes
  // would compete with the balancer's for the CPU), and checked before any host changes.
  let releasesRead: Promise<Map<string, string | null>> | undefined;
  const readOnce = () => (releasesRead ??= readReleases(config, session.transports));
  // Observed here so an unreachable host is no unhandled rejection; the later await still gets the error.
  if (!interrupted) readOnce().catch(() => undefined);
  const [members, badSet] = await Promise.all([
    opts.early?.members ?? session.balancer.members(),
    opts.early?.bad ?? bad.list(),
    opts.lockEarly ? session.lock.acquire({ by, reason: 'rollback', run }, new Date(), lockedBy) : undefined,
  ]);

  const { releases, verify } = interrupted
    ? journaledReleases(interrupted, readOnce)
    : { releases: await readOnce(), verify: () => Promise.resolve() };
  const observation = await assemble(config, members, releases, session.addressOf);
  const source = opts.to ? undefined : (interrupted ?? pushStillToUndo(last, observation));

  const { targets, from, description } = await chooseTargets(session, observation, badSet, {
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(source ? { source } : {}),
    ...(unreadable ? { unreadable } : {}),
  });
  const forced = refuseBadLanding(targets, badSet, by, opts);
  // Back in the pool go the members that were in it before the push being undone.
  const poolAfter = source
    ? source.plan.observed.hosts.filter((h) => h.memberState === 'ready').map((h) => h.member)
    : undefined;
  const plan = buildRollbackPlan({
    config,
    observed: observation.observed,
    targets,
    createdBy: by,
    ...(poolAfter ? { poolAfter } : {}),
  });
  return {
    run,
    plan,
    observation,
    targets,
    ...(from ? { from } : {}),
    source: description,
    ...(lockedBy ? { interruptedRun: lockedBy } : {}),
    verify,
    locked: Boolean(opts.lockEarly),
    notes: forced,
    summary: describeRollback(plan, targets),
  };
}

/**
 * The last push is what to undo while any host runs its release, or when its reversal failed
 * part-way (hosts may all be back, but the pool is not): its plan says where it started.
 */
function pushStillToUndo(last: RunRecord | undefined, observation: Observation): RunRecord | undefined {
  const running = new Set(observation.observed.hosts.map((h) => h.release));
  return last && (running.has(last.plan.release.dir) || last.state.outcome === 'needs-attention') ? last : undefined;
}

/** What the journal says of the last push a rollback would undo. */
function journalOfLastPush(config: Config, opts: RollbackOptions) {
  const newest = newestRunToUndo(config);
  // A run whose plan cannot be read says nothing about where hosts were: read the hosts instead.
  const last = newest?.plan ? (newest as RunRecord) : undefined;
  // A release named with --to is read from the hosts: the journal's "where the push started" does not apply.
  const interrupted =
    !opts.to && last && (last.state.outcome === undefined || last.state.outcome === 'held') ? last : undefined;
  const unreadable = newest && !newest.plan ? newest : undefined;
  return { newest, last, interrupted, unreadable };
}

/**
 * An interrupted push's journal says what each host ran (fast: no host is read before the first
 * drain); `verify` reads the hosts once and refuses, before any host changes, when one the run
 * never touched runs something else.
 */
function journaledReleases(
  interrupted: RunRecord,
  readOnce: () => Promise<Map<string, string | null>>,
): { releases: ReadonlyMap<string, string | null>; verify: () => Promise<void> } {
  const known = knownReleases(interrupted);
  let verified: Promise<void> | undefined;
  const verify = () =>
    (verified ??= readOnce().then((actual) => {
      const wrong = [...known].filter(([host, dir]) => actual.get(host) !== dir && untouched(interrupted).has(host));
      if (wrong.length)
        throw new OperationFailedError(
          'hosts do not run what the journal ' +
            `says: ${wrong.map(([h, d]) => `${h} runs ${actual.get(h) ?? 'nothing'}, not ${d}`).join('; ')}`,
          'unchanged',
        );
    }));
  return { releases: known, verify };
}

/**
 * Where each host returns to: the tag asked for, where the push being undone started, or each host's newest other
 * release.
 */
async function chooseTargets(
  session: Session,
  observation: Observation,
  badSet: ReadonlySet<string>,
  why: { to?: string; source?: RunRecord; unreadable?: RunEntry },
): Promise<{ targets: Record<string, string>; from: string | undefined; description: string }> {
  const running = observation.observed.hosts.map((h) => h.release);
  if (why.to) {
    const targets = await tagOnHosts(session, observation, why.to);
    const from = running.find((r): r is string => !!r && !Object.values(targets).includes(r));
    return { targets, from, description: `release ${why.to} (--to)` };
  }
  if (why.source) {
    const { plan, run } = why.source;
    return {
      targets: Object.fromEntries(
        plan.observed.hosts.filter((h) => h.release).map((h) => [h.host, h.release as string]),
      ),
      from: plan.release.dir,
      description: `the state push ${run} (${plan.release.tag}) started from`,
    };
  }
  return {
    targets: await previousOnHosts(session, observation, badSet),
    from: running.find((r): r is string => !!r),
    description: why.unreadable
      ? `each host's newest other release (the plan of run ${why.unreadable.run} cannot be ` +
        `read: ${why.unreadable.planProblem})`
      : "each host's newest other release (no journal of the last push here)",
  };
}

/** Landing on a release marked bad is refused unless forced with a reason, which is then journaled. */
function refuseBadLanding(
  targets: Record<string, string>,
  badSet: ReadonlySet<string>,
  by: string,
  opts: RollbackOptions,
): string[] {
  const landing = Object.entries(targets).filter(([, dir]) => badSet.has(dir));
  if (!landing.length) return [];
  if (opts.force === undefined)
    throw new PlanRefusedError(
      `rolling back would land on releases marked bad: ${landing.map(([h, d]) => `${h} → ${d}`).join(', ')}`,
      `push a fixed tag instead${opts.to ? `, or \`--force REASON\` to return to ${opts.to} anyway` : ''}, ` +
        'or remove the mark from the bad-release list on the balancer host if it was wrong',
    );
  const dirs = [...new Set(landing.map(([, d]) => d))].join(', ');
  return [`rollback lands on releases marked bad (${dirs}), forced by ${by}: ${opts.force}`];
}

export async function carryOutRollback(
  session: Session,
  p: RollbackProposal,
  reporter: Reporter,
  notes: readonly string[] = [],
): Promise<ApplyResult> {
  const result = await carryOut(session, p.plan, {
    command: 'rollback',
    run: p.run,
    reporter,
    ...(notes.length || p.notes.length ? { notes: [...notes, ...p.notes] } : {}),
    observation: p.observation,
    ...(p.locked ? { preLocked: true } : {}),
    ...(p.from && p.from !== p.plan.release.dir ? { markBadOnSuccess: p.from } : {}),
    ...(p.interruptedRun
      ? { takeOverLockOf: p.interruptedRun, closes: { run: p.interruptedRun, note: rolledBackBy(p.run) } }
      : {}),
    // Hosts are read while the first drain settles, and no host changes before they are confirmed.
    gate: async (step: AnyStep) => {
      if (stepIs(step, 'waitsForDrain')) void p.verify().catch(() => undefined);
      if (stepIs(step, 'switchesRelease')) await p.verify();
    },
  });
  // The hosts were read for the check even when no step needed it: let that finish before the session closes.
  await p.verify().catch(() => undefined);
  return result;
}

const rolledBackBy = (run: string) => `rolled back by run ${run}`;

/** Hosts of clusters the run never began to activate: they still run what the plan observed. */
function untouched(r: RunRecord): Set<string> {
  const began = new Set([
    ...r.state.completed,
    ...(r.state.pending ? [r.state.pending.step] : []),
    ...(r.state.failed ? [r.state.failed.step] : []),
  ]);
  const touched = new Set(
    r.plan.forward.filter((s) => stepIs(s, 'switchesRelease') && began.has(s.id)).map((s) => s.cluster),
  );
  return new Set(r.plan.observed.hosts.filter((h) => !touched.has(h.cluster)).map((h) => h.host));
}

/** What each host runs, as far as the journal knows: untouched hosts their old release, the others the new one. */
function knownReleases(r: RunRecord): Map<string, string | null> {
  const keep = untouched(r);
  return new Map(r.plan.observed.hosts.map((h) => [h.host, keep.has(h.host) ? h.release : r.plan.release.dir]));
}

/** The release directories each host keeps, newest first (a half-unpacked one left out). */
function releasesOnHosts(session: Session, observation: Observation): Promise<Map<string, string[]>> {
  const paths = appPaths(session.config.app.path);
  return forEachHost(
    observation.observed.hosts.map((h) => h.host),
    session.config.ssh.concurrency,
    async (host) =>
      (await session.transports.get(host).run(listReleases(paths), { allowFailure: true })).stdout
        .split('\n')
        .filter((d) => d && !d.includes('.partial.')),
  );
}

/**
 * `rollback --to TAG`: on each host, the release of that tag it keeps (`<tag>-<commit>`); refused when a host keeps
 * none.
 */
async function tagOnHosts(session: Session, observation: Observation, tag: string): Promise<Record<string, string>> {
  const listed = await releasesOnHosts(session, observation);
  const targets: Record<string, string> = {};
  const missing: string[] = [];
  for (const h of observation.observed.hosts) {
    const prefix = `${tag.replaceAll('/', '_')}-`; // as releaseFor names a release's directory
    const dir = (listed.get(h.host) ?? []).find(
      (d) => d.startsWith(prefix) && /^[0-9a-f]{7}$/.test(d.slice(prefix.length)),
    );
    if (dir) targets[h.host] = dir;
    else missing.push(`${h.host} (it keeps ${(listed.get(h.host) ?? []).join(', ') || 'none'})`);
  }
  if (missing.length)
    throw new PlanRefusedError(
      `no release of ${tag} to roll back to on ${missing.join('; ')}`,
      `push ${tag} instead: a rollback only returns to a release the hosts still keep (app.keep)`,
    );
  return targets;
}

/** Without a journal: the newest release directory on each host that is neither current nor bad. */
async function previousOnHosts(
  session: Session,
  observation: Observation,
  badSet: ReadonlySet<string>,
): Promise<Record<string, string>> {
  const hosts = observation.observed.hosts;
  const listed = await releasesOnHosts(session, observation);
  const targets: Record<string, string> = {};
  for (const h of hosts) {
    const candidate = (listed.get(h.host) ?? []).find((d) => d !== h.release && !badSet.has(d));
    if (!candidate)
      throw new OperationFailedError(
        `${h.host} has no earlier release to roll back to (it ` +
          `keeps ${(listed.get(h.host) ?? []).join(', ') || 'none'})`,
        'unchanged',
      );
    targets[h.host] = candidate;
  }
  return targets;
}
