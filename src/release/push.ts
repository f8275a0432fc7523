// The push service: resolve the tag, observe production, build the blue/green plan, and carry
// it out with the journal and the lock. Commands call these; nothing here renders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { ClusterId } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import { execute, type ExecutionResult } from '../engine/executor.js';
import { Journal, journalDir, newRunId } from '../engine/journal.js';
import { describeDrift, observe, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import { type Plan, planHash } from '../model/plan.js';
import { releaseFor } from '../model/release.js';
import { stepRunner } from '../steps/index.js';
import { exportTag, resolveTag } from '../vcs/git.js';
import { checkRequirements } from './requirements.js';

/** Who is acting, for the lock and the journal: BATON_USER, else user@host. */
export function actor(): string {
  return process.env.BATON_USER || `${userInfo().username}@${hostname()}`;
}

export interface PlanOptions {
  first?: ClusterId;
  by?: string;
}

/** Resolve the tag and observe production (both read-only, at once), then build the plan. */
export async function planPush(session: Session, tag: string, opts: PlanOptions = {}): Promise<{ plan: Plan; observation: Observation }> {
  const { config } = session;
  const [resolved, observation] = await Promise.all([
    resolveTag(config.app.repo, tag, { requireSigned: config.app.signedTags }),
    observe(config, session.balancer, session.transports, session.addressOf),
  ]);
  const release = releaseFor(resolved.tag, resolved.commit);
  const plan = buildBlueGreenPlan({ config, observed: observation.observed, release, createdBy: opts.by ?? actor(), ...(opts.first ? { first: opts.first } : {}) });
  return { plan, observation };
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
}

export interface ApplyResult extends ExecutionResult {
  run: string;
  journal: string;
  tag: string;
  commit: string;
  release: string;
}

/** Carry out exactly this plan; refuses (exit 3) an altered plan or one whose live state drifted. */
export async function applyPlan(session: Session, plan: Plan, opts: ApplyOptions): Promise<ApplyResult> {
  const { config } = session;
  const { hash, ...rest } = plan;
  if (planHash(rest) !== hash) {
    throw new PlanRefusedError('the plan file was altered after it was made (its content no longer matches its hash)', 'make a new plan with `baton plan TAG`');
  }
  const notes = [...checkRequirements(plan, config.require, { by: opts.by ?? actor(), override: opts.overrideRequirements }), ...(opts.notes ?? [])];
  const work = mkdtempSync(join(tmpdir(), 'baton-'));
  const artifact = join(work, `${plan.release.dir}.tar.gz`);
  const [observation, exported] = await Promise.all([
    opts.fresh ?? observe(config, session.balancer, session.transports, session.addressOf),
    exportTag(config.app.repo, plan.release.tag, artifact, { requireSigned: config.app.signedTags }),
  ]).catch((err: unknown) => {
    rmSync(work, { recursive: true, force: true });
    throw err;
  });
  try {
    if (!opts.fresh) {
      const drift = describeDrift(plan.observed, observation.observed);
      if (drift.length) {
        throw new PlanRefusedError(`production changed since the plan was made:\n  ${drift.join('\n  ')}`, 'make a new plan with `baton plan TAG`', drift);
      }
    }
    const endpoints = Object.fromEntries(
      [...observation.membership.a, ...observation.membership.b].map((m) => [m.host, { address: m.address, ...(m.port !== undefined ? { port: m.port } : {}) }]),
    );
    if (exported.commit !== plan.release.commit) {
      throw new PlanRefusedError(`tag ${plan.release.tag} now points at ${exported.commit}, not ${plan.release.commit} as planned`, 'a moved tag is a different release: make a new plan');
    }
    const run = newRunId();
    const journal = new Journal(journalDir(config.dir), run);
    const by = opts.by ?? actor();
    journal.append({ event: 'run-begin', command: opts.fresh ? 'push' : 'apply', plan: plan.hash, tag: plan.release.tag, by, steps: plan.forward.map((s) => s.id) });
    for (const message of notes) journal.append({ event: 'note', message });
    const env = {
      config,
      transports: session.transports,
      balancer: session.balancer,
      lock: session.lock,
      lockOwner: { by, reason: `push ${plan.release.tag}`, tag: plan.release.tag, run },
      release: plan.release,
      artifact,
      endpoints,
    };
    const result = await execute({
      steps: plan.forward,
      run: stepRunner(env, plan),
      journal,
      reporter: opts.reporter,
      ...(opts.hold ? { holdAfter: `ready-${plan.forward.find((s) => s.kind === 'ready')?.cluster ?? 'a'}` } : {}),
    });
    journal.append({ event: 'run-end', outcome: result.outcome, ms: result.forwardMs + (result.reversalMs ?? 0) });
    await opts.reporter.finish();
    return { ...result, run, journal: journal.file, tag: plan.release.tag, commit: plan.release.commit, release: plan.release.dir };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
