// The restore service: observe production and read the host's last snapshot (at once), find the
// release its cluster runs and the tag that makes it, build the restore plan, and carry it out
// with the journal and the lock like any other plan.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRestorePlan } from '../../plans/restore.js';
import type { Config } from '../config/config.js';
import { loadRunbook, type RestoreRunbook, type RunbookContext } from '../config-track/restore.js';
import { PlanRefusedError, UserError } from '../errors.js';
import { observe, type Observation } from '../engine/observe.js';
import type { Reporter } from '../engine/reporter.js';
import type { Session } from '../engine/session.js';
import type { ObservedState, Plan } from '../model/plan.js';
import { releaseFor, tagOfDir, type Release } from '../model/release.js';
import { resolveTag, type ResolvedTag } from '../vcs/git.js';
import { actor } from './actor.js';
import { carryOut, type ApplyResult } from './carry-out.js';
import { buildPlannedArtifact, releaseArchiveFor } from './planned-artifact.js';

export interface RestoreProposal {
  runbook: RestoreRunbook;
  context: RunbookContext;
  /** Only for an app host: what --run carries out. */
  plan?: Plan;
  observation?: Observation;
}

/** The release `host`'s cluster runs now (its other hosts must agree), else the one its snapshot recorded. */
export function releaseToRestore(observed: ObservedState, host: string, recorded: string | null): string {
  const me = observed.hosts.find((h) => h.host === host);
  const others = observed.hosts.filter((h) => h.cluster === me?.cluster && h.host !== host && h.release);
  const runs = [...new Set(others.map((h) => h.release as string))];
  if (runs.length > 1) {
    throw new PlanRefusedError(
      `the other hosts of cluster ${me?.cluster} run different releases ` +
        `(${others.map((h) => `${h.host}: ${h.release}`).join(', ')}): ` +
        `which one to restore ${host} with is not clear`,
      'finish or roll back the push that left them so, then restore',
    );
  }
  const dir = runs[0] ?? recorded;
  if (!dir)
    throw new UserError(
      `nothing tells which release ${host} should run: its cluster has no other host running one and its ` +
        'snapshot recorded none',
      'push a release to its cluster first',
    );
  return dir;
}

/** The host as baton.yml spells it, and whether it is an app host (else a balancer); refused when it is neither. */
function hostNamed(config: Config, host: string): { name: string; appHost: boolean } {
  const appHosts = [...config.clusters.a.hosts, ...config.clusters.b.hosts].map((h) => h.host);
  const balancers = [config.balancer.host, ...(config.balancer.peers ?? [])];
  const same = (h: string) => h.toLowerCase() === host.toLowerCase();
  const appHost = appHosts.find(same);
  const name = appHost ?? balancers.find(same);
  if (!name)
    throw new UserError(
      `${JSON.stringify(host)} is not a host in ${config.file}`,
      `app hosts: ${appHosts.join(', ')}; balancers: ${balancers.join(', ')}`,
    );
  return { name, appHost: appHost !== undefined };
}

export async function proposeRestore(
  session: Session,
  host: string,
  opts: { commit?: string; by?: string; run?: boolean; rehearse?: boolean } = {},
): Promise<RestoreProposal> {
  const { config } = session;
  const { name, appHost } = hostNamed(config, host);
  if (!appHost) {
    if (opts.run)
      throw new UserError(
        `${name} is a balancer: baton restores app hosts (--run); a balancer is restored by hand from its runbook`,
        `baton restore ${name}`,
      );
    return { runbook: await loadRunbook(config, name, opts.commit), context: { balancerHost: config.balancer.host } };
  }
  const [runbook, observation] = await Promise.all([
    loadRunbook(config, name, opts.commit),
    observe(config, session.balancer, session.transports, session.addressOf),
  ]);
  const me = observation.observed.hosts.find((h) => h.host === name)!;
  const dir = releaseToRestore(observation.observed, name, runbook.release);
  const context: RunbookContext = {
    cluster: me.cluster,
    member: me.member,
    balancerHost: config.balancer.host,
    clusterRelease: dir,
    clusterInPool: observation.observed.hosts.some((h) => h.cluster === me.cluster && h.memberState === 'ready'),
  };
  if (opts.rehearse && context.clusterInPool) {
    throw new PlanRefusedError(
      `cluster ${me.cluster} is in the pool: a rehearsal restores a host of the idle cluster, ` +
        'where no user can reach it',
      'rehearse on a host of the cluster that is out of the pool (after `push --hold`, or drained), ' +
        'or restore for real with --run',
    );
  }
  if (!opts.run && !opts.rehearse) return { runbook, context, observation };
  const { release, resolved } = await releaseOfCluster(config.app.repo, dir, config.app.signedTags);
  // With artifact: the host gets the artifact of its cluster's release (from the cache, or built again and recorded).
  const artifact = config.artifact
    ? (await buildPlannedArtifact(config, session.transports, Promise.resolve(resolved))).record
    : undefined;
  const plan = buildRestorePlan({
    config,
    observed: observation.observed,
    host: name,
    snapshot: runbook.commit,
    release,
    createdBy: opts.by ?? actor(),
    ...(artifact ? { artifact } : {}),
  });
  return { runbook, context, plan, observation };
}

/** The tag and commit that make release directory `dir`, refused when the tag has moved since. */
async function releaseOfCluster(
  repo: string,
  dir: string,
  requireSigned: boolean,
): Promise<{ release: Release; resolved: ResolvedTag }> {
  const tag = tagOfDir(dir);
  const resolved = await resolveTag(repo, tag, { requireSigned });
  const release = releaseFor(resolved.tag, resolved.commit);
  if (release.dir !== dir) {
    throw new PlanRefusedError(
      `tag ${tag} now makes ${release.dir}, not ${dir}, which the cluster runs: ` +
        'restoring from it would deploy another release',
      'push the release you want to the whole cluster, then restore',
    );
  }
  return { release, resolved };
}

export async function carryOutRestore(
  session: Session,
  p: Required<Pick<RestoreProposal, 'plan' | 'observation'>>,
  reporter: Reporter,
  opts: { by?: string } = {},
): Promise<ApplyResult> {
  const work = mkdtempSync(join(tmpdir(), 'baton-restore-'));
  try {
    const artifact = await releaseArchiveFor(
      session.config,
      p.plan,
      join(work, `${p.plan.release.dir}.tar.gz`),
      session.transports,
    );
    return await carryOut(session, p.plan, {
      command: 'restore',
      reporter,
      observation: p.observation,
      artifact,
      ...(opts.by ? { by: opts.by } : {}),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
