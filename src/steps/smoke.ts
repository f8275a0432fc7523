// Smoke: every configured check through the cluster's internal hostname and against each of its
// hosts at the address the balancer uses, retried until the deadline; a failure says what came back.
import { resolveCheck, runSmoke, smokeFailures } from '../checks/smoke.js';
import { OperationFailedError } from '../errors.js';
import type { StepOf } from '../model/steps.js';
import type { StepEnv } from './env.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

export async function runSmokeStep(step: StepOf<'smoke'>, env: StepEnv): Promise<unknown> {
  const { config } = env;
  const cluster = config.clusters[step.cluster];
  if (!config.smoke.checks.length) return { skipped: 'no smoke checks configured' };
  const internal = /^https?:\/\//.test(cluster.internal) ? cluster.internal : `http://${cluster.internal}`;
  const targets = [
    { name: cluster.internal, baseUrl: internal },
    ...(step.hosts ?? []).map((host) => {
      const e = env.endpoints[host];
      return { name: host, baseUrl: `http://${e?.address ?? host}:${e?.port ?? 80}` };
    }),
  ];
  const checks = config.smoke.checks.map((c) => resolveCheck(c, env.secrets));
  const report = await runSmoke(checks, targets, {
    deadlineMs: config.smoke.deadlineMs,
    resolve: config.resolve,
    redact: (t) => env.secrets.redact(t),
  });
  if (!report.ok) {
    throw new OperationFailedError(
      `smoke checks failed on cluster ${step.cluster}:\n  ${smokeFailures(report).join('\n  ')}`,
    );
  }
  return { passed: report.results.length };
}

export const smokeKind: StepKindSpec<'smoke'> = {
  kind: 'smoke',
  ...STEP_TRAITS.smoke,
  run: (step, env) => runSmokeStep(step, env),
};
