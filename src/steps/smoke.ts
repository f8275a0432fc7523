// Smoke: every configured check through the cluster's internal hostname and against each of its
// hosts at the address the balancer uses, retried until the deadline; a failure says what came back.
import { resolveCheck, runSmoke, smokeFailures } from '../checks/smoke.js';
import { OperationFailedError } from '../errors.js';
import type { Step } from '../model/plan.js';
import type { StepEnv } from './env.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

export async function runSmokeStep(step: Step, env: StepEnv): Promise<unknown> {
  const { config } = env;
  if (!step.cluster) throw new Error(`step ${step.id} names no cluster`);
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

export const smokeKind: StepKindSpec = {
  kind: 'smoke',
  ...STEP_TRAITS.smoke,
  run: (step, env) => runSmokeStep(step, env),
};
