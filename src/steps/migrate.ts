// Schema changes both releases survive. Expand runs the operator's migration in the staged
// release's directory on the migrate host and records it in the ledger; the gate checks that the
// release still serving works on the expanded schema through both clusters before anything
// drains; contract (its own plan) drops what only the old release needed, once every host runs
// the release the ledger names — checked again right before it runs, since a plan may be old.
import { resolveCheck, runSmoke, smokeFailures } from '../checks/smoke.js';
import type { ClusterId, Config } from '../config/config.js';
import { readReleases } from '../engine/observe.js';
import { ExternalCommandError, OperationFailedError } from '../errors.js';
import type { StepOf } from '../model/steps.js';
import { isReleaseDirName } from '../model/release.js';
import { contractRefusal } from '../../plans/contract.js';
import type { Progress, StepEnv } from './env.js';
import {
  appPaths,
  contractSchema,
  expandSchema,
  migrationLedger,
  readMigrationLedger,
  reverseExpandSchema,
} from '../model/host-commands.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

function migrateOf(config: Config, step: { id: string }): NonNullable<Config['migrate']> {
  if (!config.migrate)
    throw new OperationFailedError(
      `step ${step.id} needs migrate in baton.yml, which has none`,
      undefined,
      'restore the migrate section the plan was made with',
    );
  return config.migrate;
}

/** The one host a migration step runs on, and the release directory it names there. */
function hostAndDir(step: StepOf<'expand' | 'reverse-expand' | 'contract'>): { host: string; dir: string } {
  const host = step.hosts[0];
  const dir = host ? step.releases[host] : undefined;
  if (!host || !dir) throw new OperationFailedError(`step ${step.id} names no host and release to migrate`);
  return { host, dir };
}

/** A migration command on one host, within migrate.timeout; a hang names the host and the key. */
async function runMigration(
  env: StepEnv,
  host: string,
  argv: string[],
  what: string,
  timeoutMs: number,
): Promise<void> {
  try {
    await env.transports.get(host).run(argv, { timeoutMs });
  } catch (err) {
    if (err instanceof ExternalCommandError && err.timedOut) {
      throw new OperationFailedError(
        `${what} on ${host} did not finish within ${Math.round(timeoutMs / 1000)} s (migrate.timeout)`,
      );
    }
    throw err;
  }
}

export async function runExpand(step: StepOf<'expand'>, env: StepEnv, progress: Progress): Promise<unknown> {
  const migrate = migrateOf(env.config, step);
  const { host, dir } = hostAndDir(step);
  const paths = appPaths(env.config.app.path);
  progress(`expanding the schema with ${dir} on ${host}`);
  await runMigration(
    env,
    host,
    expandSchema(paths, dir, migrate.expand),
    `the schema expand (migrate.expand) of ${dir}`,
    migrate.timeout,
  );
  return { expanded: dir, host, ledger: migrationLedger(paths) };
}

export async function runReverseExpand(
  step: StepOf<'reverse-expand'>,
  env: StepEnv,
  progress: Progress,
): Promise<unknown> {
  const migrate = migrateOf(env.config, step);
  const { host, dir } = hostAndDir(step);
  if (!migrate.reverse)
    throw new OperationFailedError(
      `the schema expand of ${dir} cannot be undone: baton.yml has no migrate.reverse`,
      undefined,
      'undo the expand by hand on the database, or push a release that works on the expanded schema',
    );
  progress(`reversing the schema expand of ${dir} on ${host}`);
  await runMigration(
    env,
    host,
    reverseExpandSchema(appPaths(env.config.app.path), dir, migrate.reverse),
    `the reverse of the schema expand (migrate.reverse) of ${dir}`,
    migrate.timeout,
  );
  return { reversed: dir, host };
}

/**
 * The release still serving, on the expanded schema: the gate checks through each cluster's internal name and against
 * each host.
 */
export async function runGate(step: StepOf<'gate'>, env: StepEnv): Promise<unknown> {
  const { config } = env;
  const migrate = migrateOf(config, step);
  if (!migrate.gate.length) return { skipped: 'no gate checks configured (smoke or migrate.gate)' };
  const hosts = step.hosts;
  const clusterOf = new Map(
    (['a', 'b'] as ClusterId[]).flatMap((c) => config.clusters[c].hosts.map((h) => [h.host, c] as const)),
  );
  const clusters = (['a', 'b'] as ClusterId[]).filter((c) => hosts.some((h) => clusterOf.get(h) === c));
  const targets = [
    ...clusters.map((c) => {
      const internal = config.clusters[c].internal;
      return { name: internal, baseUrl: /^https?:\/\//.test(internal) ? internal : `http://${internal}` };
    }),
    ...hosts.map((host) => {
      const e = env.endpoints[host];
      return { name: host, baseUrl: `http://${e?.address ?? host}:${e?.port ?? 80}` };
    }),
  ];
  const checks = migrate.gate.map((c) => resolveCheck(c, env.secrets));
  const report = await runSmoke(checks, targets, {
    deadlineMs: migrate.gateDeadline,
    resolve: config.resolve,
    redact: (t) => env.secrets.redact(t),
  });
  if (!report.ok) {
    throw new OperationFailedError(
      `the release still serving fails its checks on the expanded schema:\n  ${smokeFailures(report).join('\n  ')}`,
      undefined,
      'the expand removed or changed something the old release uses: ' +
        'make it additive only (drop things in migrate.contract)',
    );
  }
  return { passed: report.results.length };
}

export async function runContract(step: StepOf<'contract'>, env: StepEnv, progress: Progress): Promise<unknown> {
  const migrate = migrateOf(env.config, step);
  const { host, dir } = hostAndDir(step);
  if (!migrate.contract)
    throw new OperationFailedError(
      'baton.yml has no migrate.contract: there is no contract command to run',
      'unchanged',
      'nothing was changed',
    );
  const paths = appPaths(env.config.app.path);
  // The plan may be old: the hosts and the ledger are read again, and nothing runs unless they still agree.
  const [releases, ledgerText] = await Promise.all([
    readReleases(env.config, env.transports),
    env.transports.get(host).run(readMigrationLedger(paths)),
  ]);
  const read = ledgerText.stdout.trim();
  const ledger = isReleaseDirName(read) ? read : null;
  const refusal =
    contractRefusal(
      [...releases].map(([h, release]) => ({ host: h, release })),
      ledger,
      `${host} (${migrationLedger(paths)})`,
    ) ?? (ledger === dir ? undefined : `the ledger now names ${ledger}, not ${dir} the plan was made for`);
  if (refusal)
    throw new OperationFailedError(
      `contract refused: ${refusal}`,
      'unchanged',
      'nothing was changed; run `baton contract` again once every host runs the expanded release',
    );
  progress(`contracting the schema for ${dir} on ${host}`);
  await runMigration(
    env,
    host,
    contractSchema(paths, dir, migrate.contract),
    `the schema contract (migrate.contract) for ${dir}`,
    migrate.timeout,
  );
  return { contracted: dir, host };
}

export const expandKind: StepKindSpec<'expand'> = {
  kind: 'expand',
  ...STEP_TRAITS.expand,
  run: (step, env, progress) => runExpand(step, env, progress),
};

export const reverseExpandKind: StepKindSpec<'reverse-expand'> = {
  kind: 'reverse-expand',
  ...STEP_TRAITS['reverse-expand'],
  run: (step, env, progress) => runReverseExpand(step, env, progress),
};

export const gateKind: StepKindSpec<'gate'> = {
  kind: 'gate',
  ...STEP_TRAITS.gate,
  run: (step, env) => runGate(step, env),
};

export const contractKind: StepKindSpec<'contract'> = {
  kind: 'contract',
  ...STEP_TRAITS.contract,
  run: (step, env, progress) => runContract(step, env, progress),
};
