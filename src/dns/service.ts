// The DNS migration service: each `baton dns …` command is one call here. It observes the
// zone's authoritative servers, keeps the plan beside the journal (what is done is replayed from the journal), and
// carries out one phase's steps through the runner, with a lock on the old host held throughout, like a push.
import { buildDnsPlan, reverseDnsSteps } from '../../plans/dns-migration.js';
import type { Config } from '../config/config.js';
import type { StepRunner } from '../engine/executor.js';
import { writeErr } from '../output.js';
import { runPlan, type Outcome } from '../engine/run-plan.js';
import { ReleaseLock } from '../engine/lock.js';
import type { Reporter } from '../engine/reporter.js';
import { PlanRefusedError, UserError } from '../errors.js';
import { stepIs } from '../model/step-kinds.js';
import type { DnsForwardStepId } from '../model/steps.js';
import { actor } from '../release/push.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransports } from '../transport/ssh.js';
import type { Transport, Transports } from '../transport/types.js';
import { cacheHorizon, secondsUntil } from './horizon.js';
import { largestTtl, observeDns, servesEverywhere } from './observe.js';
import { proxyFiles, proxySpec, type Migration } from './proxy.js';
import { queryAuthoritative, type DnsQuery } from './query.js';
import { DnsStateStore, type DnsState } from './state.js';
import { dnsStepRunner } from './kinds.js';
import type { DnsEnv } from './steps.js';
import type { Tsig } from './nsupdate.js';
import { resolveSecrets, secretUses } from '../config/secrets.js';
import type { DnsPhase, DnsPlan, DnsStep } from './types.js';
import {
  parseAccessLog,
  perClient,
  perMinute,
  verdict,
  type ClientCount,
  type MinuteCount,
  type WatchVerdict,
} from './watch.js';

export interface DnsSession {
  config: Config;
  m: Migration;
  /** How updates are signed (the key read up front when it is a secret); absent: by hand. */
  tsig?: Tsig;
  transports: Transports;
  local: Transport;
  query: DnsQuery;
  store: DnsStateStore;
  notice(line: string): void;
  close(): Promise<void>;
}

export interface DnsSessionOptions {
  transports?: Transports;
  local?: Transport;
  query?: DnsQuery;
  notice?: (line: string) => void;
  /** Where `{env: NAME}` secrets are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Leave the TSIG key unread: the session changes no record (`dns watch` only reads a log). */
  withoutKey?: boolean;
}

/** Opens the session; the TSIG key, when it is a secret, is read first, before anything connects. */
export async function openDnsSession(config: Config, opts: DnsSessionOptions = {}): Promise<DnsSession> {
  const m = config.dns?.migrate;
  if (!config.dns || !m)
    throw new UserError(
      'baton.yml has no dns.migrate section',
      'add dns.migrate (site, old, new, proxy): `baton schema --markdown` prints the reference (docs/configuration.md)',
    );
  const tsig = await tsigOf(config, opts);
  const transports = opts.transports ?? new SshTransports(config.ssh);
  return {
    config,
    m,
    ...(tsig && { tsig }),
    transports,
    local: opts.local ?? new LocalTransport(),
    query: opts.query ?? queryAuthoritative,
    store: new DnsStateStore(config, m.site),
    notice: opts.notice ?? writeErr,
    close: () => transports.closeAll(),
  };
}

/** How the session signs updates: the key file, or the key itself, read now (before anything connects). */
async function tsigOf(config: Config, opts: DnsSessionOptions): Promise<Tsig | undefined> {
  const update = config.dns?.update;
  if (!update || opts.withoutKey) return undefined;
  if (update.tsigKey)
    return { key: (await resolveSecrets(config, secretUses({ dns: config.dns }), opts.env)).value(update.tsigKey) };
  return update.tsigKeyFile !== undefined ? { keyFile: update.tsigKeyFile } : undefined;
}

async function observe(s: DnsSession) {
  const dns = s.config.dns!;
  return observeDns(s.query, {
    zone: dns.zone,
    nameserver: dns.nameserver,
    site: s.m.site,
    transitional: dns.transitional,
  });
}

export interface PhaseResult extends Outcome {
  phase: DnsPhase | 'rollback';
  /** Seconds each step took, by step id. */
  stepSeconds: Record<string, number>;
  state: DnsState;
}

export interface PlanResult {
  plan: DnsPlan;
  state: DnsState;
  /** The prepare phase (transitional record), when it had something to do. */
  prepared?: PhaseResult;
}

/** Observe, build the plan, store it; create the transitional record unless `dryRun`. */
export async function planMigration(
  s: DnsSession,
  opts: { dryRun?: boolean; reporter?: Reporter; by?: string } = {},
): Promise<PlanResult> {
  const { plan, state, observed } = await replan(s, opts.by);
  const { done } = state;
  if (opts.dryRun) {
    if (plan.forward[0] && stepIs(plan.forward[0], 'confirmsOnly') && !state.transitionalSince)
      state.transitionalSince = observed.observedAt;
    return { plan, state };
  }
  s.store.writePlan(plan);
  // The prepare phase: the transitional record made (or, when it already points right, confirmed and journaled).
  const prepare = plan.forward.filter((st) => st.phase === 'prepare' && !done.includes(st.id));
  if (!prepare.length || !opts.reporter) return { plan, state: requireState(s) };
  const prepared = await runSteps(s, 'prepare', prepare, opts.reporter, opts.by);
  return { plan: prepared.state.plan, state: prepared.state, prepared };
}

/**
 * Lower the site's TTL now, ahead of the move (days ahead, ideally): the plan is made again with
 * the lowering in it (and `finish` raising the TTL back), and the switch waits until answers cached
 * under the old TTL have expired.
 */
export async function lowerSiteTtl(
  s: DnsSession,
  opts: { to: number; reporter: (steps: readonly DnsStep[]) => Reporter; by?: string },
): Promise<PlanResult> {
  const previous = s.store.read();
  if (previous?.done.includes('switch') || previous?.done.includes('cutover'))
    throw new PlanRefusedError(
      `the migration of ${s.m.site} is already past its cut-over: lowering the TTL now would not shorten anything`,
      'lower it before `baton dns cutover`; `baton dns finish` puts back a TTL it lowered',
    );
  const { plan, state, observed } = await replan(s, opts.by, opts.to);
  if (!plan.facts.ttlLowered) {
    s.notice(
      `${s.m.site} has a TTL of ${largestTtl(observed, 'site')}s already, at most ${opts.to}s: nothing to lower`,
    );
    return { plan, state };
  }
  s.store.writePlan(plan);
  const steps = plan.forward.filter((st) => st.phase === 'lower-ttl' && !state.done.includes(st.id));
  if (!steps.length) return { plan, state: requireState(s) };
  const lowered = await runSteps(s, 'lower-ttl', steps, opts.reporter(steps), opts.by);
  return { plan: lowered.state.plan, state: lowered.state, prepared: lowered };
}

/** The plan made again from what the servers say now, keeping what the journal says is done (and a TTL lowered). */
async function replan(s: DnsSession, by: string | undefined, lowerTo?: number) {
  proxySpec(s.m); // refuse Varnish for HTTPS before anything else
  const previous = s.store.read();
  const observed = await observe(s);
  const before = previous?.plan.facts.ttlLowered;
  const lowerTtl =
    // Asked to lower a TTL that is higher now, and not lowered already.
    lowerTo !== undefined && !(before && previous?.ttlLoweredAt) && largestTtl(observed, 'site') > lowerTo
      ? { to: lowerTo }
      : before && {
          ...before,
          ...(previous?.ttlLoweredAt && { loweredAt: new Date(previous.ttlLoweredAt) }),
        };
  const plan = buildDnsPlan({
    config: s.config,
    observed,
    createdBy: by ?? actor(),
    ...(previous?.transitionalSince && { transitionalSince: new Date(previous.transitionalSince) }),
    ...(lowerTtl && { lowerTtl }),
  });
  // Steps already carried out stay done when the migration is planned again midway (the journal says which).
  const done = previous ? previous.done.filter((id) => plan.forward.some((st) => st.id === id)) : [];
  const state: DnsState = { ...(previous ?? {}), site: s.m.site, plan, done };
  return { plan, state, observed };
}

function requireState(s: DnsSession): DnsState {
  const state = s.store.read();
  if (!state) throw new UserError(`no migration of ${s.m.site} planned yet`, 'run `baton dns plan` first');
  return state;
}

/** The step each phase needs done before it (a step that only confirmed a fact needs nothing done). */
const PHASE_NEEDS = { proxy: 'transitional', cutover: 'proxy-side', finish: 'cutover' } as const satisfies Record<
  'proxy' | 'cutover' | 'finish',
  DnsForwardStepId
>;
/** The command that carries each of those out. */
const DONE_BY: Record<(typeof PHASE_NEEDS)[keyof typeof PHASE_NEEDS], string> = {
  transitional: 'baton dns plan',
  'proxy-side': 'baton dns proxy install',
  cutover: 'baton dns cutover',
};

/** Runs the not yet done steps of one phase (proxy, cutover, finish). */
export async function runPhase(
  s: DnsSession,
  phase: 'proxy' | 'cutover' | 'finish',
  opts: { reporter: Reporter; by?: string; noSwitch?: boolean },
): Promise<PhaseResult> {
  const state = requireState(s);
  const needed = PHASE_NEEDS[phase];
  const confirmedOnly = state.plan.forward.some((st) => st.id === needed && stepIs(st, 'confirmsOnly'));
  if (!state.done.includes(needed) && !confirmedOnly) {
    const command = DONE_BY[needed];
    throw new PlanRefusedError(`step ${needed} is not done yet`, `run \`${command}\` first`);
  }
  if (phase === 'cutover') {
    refuseEarly(state);
    await refuseDrift(s, state);
  }
  const steps = state.plan.forward.filter(
    (st) => st.phase === phase && !state.done.includes(st.id) && !(opts.noSwitch && st.id === 'switch'),
  );
  return runSteps(s, phase, steps, opts.reporter, opts.by);
}

/** A name created moments ago may still be cached as "no such name": wait out the negative TTL. */
function refuseEarly(state: DnsState, now = new Date()): void {
  refuseBeforeOldTtlRunsOut(state, now);
  if (!state.transitionalSince || state.done.includes('cutover')) return;
  const usable = cacheHorizon({
    confirmedAt: new Date(state.transitionalSince),
    oldTtl: 0,
    existedBefore: false,
    negativeTtl: state.plan.facts.negativeTtl,
  });
  if (now < usable) {
    throw new PlanRefusedError(
      `${state.plan.facts.transitional} may still be cached as missing until ${usable.toISOString()}`,
      `try again in ${secondsUntil(usable, now)}s`,
    );
  }
}

/**
 * With the TTL lowered ahead of the move, an answer cached before may be kept for the old TTL: the switch waits it out.
 */
function refuseBeforeOldTtlRunsOut(state: DnsState, now: Date): void {
  const lowered = state.plan.facts.ttlLowered;
  if (!lowered || state.done.includes('switch')) return;
  const site = state.plan.facts.site;
  if (!state.ttlLoweredAt)
    throw new PlanRefusedError(
      `the plan lowers the TTL of ${site} to ${lowered.to}s before the move, and that is not done yet`,
      'run `baton dns lower-ttl` first',
    );
  const runsOut = new Date(Date.parse(state.ttlLoweredAt) + lowered.from * 1000);
  if (now < runsOut)
    throw new PlanRefusedError(
      `${site} may still be cached with its old TTL (${lowered.from}s) until ${runsOut.toISOString()}`,
      `try again in ${secondsUntil(runsOut, now)}s`,
    );
}

/** The record must still hold the old address (or already the new one): no one else moved it. */
async function refuseDrift(s: DnsSession, state: DnsState): Promise<void> {
  const now = await observe(s);
  const f = state.plan.facts;
  // With an AAAA record in the plan, it must still be where the plan saw it too; without one, none may have appeared.
  const onOld = servesEverywhere(now, 'site', f.oldAddress, f.oldAddress6 ?? null);
  const onNew = servesEverywhere(now, 'site', f.newAddress, f.newAddress6 ?? null);
  if (!onOld && !onNew) {
    throw new PlanRefusedError(
      `${s.m.site} no longer resolves to ${f.oldAddress}${f.oldAddress6 ? ` and ${f.oldAddress6}` : ''} ` +
        '(and nothing else) on every authoritative server',
      'someone changed the record: run `baton dns plan` again',
    );
  }
  if (!state.plan.forward.some((st) => st.id === 'switch') && onOld) {
    throw new PlanRefusedError(
      `the plan was made when ${s.m.site} already pointed at the new host, but it points at the old one now`,
      'run `baton dns plan` again',
    );
  }
}

/** Undo every step done so far, newest first: the old server serves the site again. */
export async function rollbackMigration(
  s: DnsSession,
  opts: { reporter: Reporter; by?: string },
): Promise<PhaseResult> {
  const state = requireState(s);
  const done = state.plan.forward.filter((st) => state.done.includes(st.id));
  return runSteps(s, 'rollback', reverseDnsSteps(done), opts.reporter, opts.by, true);
}

async function runSteps(
  s: DnsSession,
  phase: DnsPhase | 'rollback',
  steps: DnsStep[],
  reporter: Reporter,
  by = actor(),
  isReverse = false,
): Promise<PhaseResult> {
  const state = requireState(s);
  const stepSeconds: Record<string, number> = {};
  const lock = new ReleaseLock(s.transports.get(s.m.old.host), s.m.lock, s.config.lock.lease, s.config.environment);
  // What is done is what the journal says: the runner journals each step's end before the next begins.
  const stepRunner = (): StepRunner => {
    const runner = dnsStepRunner(dnsEnv(s, state));
    return async (step, progress) => {
      const t0 = Date.now();
      const changed = await runner(step, progress);
      stepSeconds[step.id] = (Date.now() - t0) / 1000;
      return changed;
    };
  };
  let result: Outcome;
  try {
    result = await runPlan(
      {
        runsOf: s.config,
        reporter,
        // The migration's own lock on the old host, held from before the run's first line to after its last.
        lock: {
          lock,
          leaseMs: s.config.lock.lease,
          owner: { by, reason: `dns ${phase} ${s.m.site}` },
          holdThroughout: true,
        },
        stepRunner,
      },
      { command: `dns ${phase}`, hash: state.plan.hash, tag: `dns:${s.m.site}`, by, steps },
      isReverse ? { reverse: { reason: 'dns rollback' } } : { forward: {} },
    );
  } finally {
    await reporter.finish();
  }
  const { run, journal, ...ran } = result;
  return { ...ran, phase, run, journal, stepSeconds, state: requireState(s) };
}

function dnsEnv(s: DnsSession, state: DnsState): DnsEnv {
  const dns = s.config.dns!;
  // Without this a record step would fall back to asking a person to change the record.
  if (dns.update && !s.tsig) throw new Error('a DNS session opened without its TSIG key cannot run steps');
  return {
    config: s.config,
    m: s.m,
    spec: proxySpec(s.m),
    transports: s.transports,
    local: s.local,
    query: s.query,
    servers: state.plan.facts.servers,
    zone: dns.zone,
    ...(s.tsig && { tsig: s.tsig }),
    manualWaitMs: dns.manualWait,
    notice: s.notice,
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

export interface WatchReport {
  site: string;
  now: string;
  cutoverAt?: string;
  switchedAt?: string;
  /** After this no cache can hold the old address. */
  horizon?: string;
  quietPeriodSeconds: number;
  perMinute: MinuteCount[];
  /** Who still reaches the old host, most requests first. */
  perClient: ClientCount[];
  total: number;
  verdict: WatchVerdict;
}

/** Requests still reaching the old host's proxy on the site's port, per minute, and whether it may go. */
export async function watchMigration(s: DnsSession, now = new Date()): Promise<WatchReport> {
  const state = requireState(s);
  if (!state.cutoverAt)
    throw new PlanRefusedError(`${s.m.site} has not been cut over yet`, 'run `baton dns cutover` first');
  const files = proxyFiles(proxySpec(s.m), 'port');
  const log = await s.transports.get(s.m.old.host).run(['cat', files.log], { allowFailure: true });
  const cutoverAt = new Date(state.cutoverAt);
  const entries = parseAccessLog(log.stdout).filter((e) => e.at >= cutoverAt);
  return {
    site: s.m.site,
    now: now.toISOString(),
    cutoverAt: state.cutoverAt,
    ...(state.switchedAt && { switchedAt: state.switchedAt }),
    ...(state.horizon && { horizon: state.horizon }),
    quietPeriodSeconds: Math.round(s.m.quiet / 1000),
    perMinute: perMinute(entries, now, cutoverAt),
    perClient: perClient(entries),
    total: entries.length,
    verdict: verdict(entries, {
      now,
      cutoverAt,
      ...(state.horizon && { horizon: new Date(state.horizon) }),
      quietMs: s.m.quiet,
    }),
  };
}

/** Removes the proxy, but only once the horizon has passed and it was quiet long enough (or forced). */
export async function finishMigration(
  s: DnsSession,
  opts: { reporter: Reporter; by?: string; force?: boolean },
): Promise<PhaseResult & { watch: WatchReport }> {
  const watch = await watchMigration(s);
  if (!watch.verdict.finishable && !opts.force) {
    const why = !watch.horizon
      ? 'the record has not been switched'
      : !watch.verdict.horizonPassed
        ? `caches may hold ${s.m.old.address} until ${watch.horizon}`
        : `the last request came ${watch.verdict.quietSeconds}s ago, ` +
          `less than the quiet period of ${watch.quietPeriodSeconds}s`;
    throw new PlanRefusedError(
      `not removing the proxy yet: ${why}`,
      watch.verdict.waitSeconds >= 0
        ? `try again in ${watch.verdict.waitSeconds}s (\`baton dns watch\` shows the traffic)`
        : 'run `baton dns cutover` to switch the record',
    );
  }
  return { ...(await runPhase(s, 'finish', opts)), watch };
}
