// Stage: send the release archive to every host and build it there while traffic still flows;
// nothing restarts. Old releases are pruned in the same round trip, never the running one or the way back.
import { readFile } from 'node:fs/promises';
import { ExternalCommandError, OperationFailedError } from '../errors.js';
import type { Step } from '../model/plan.js';
import { forEachHost } from '../transport/fan-out.js';
import type { Progress, StepEnv } from './env.js';
import { appPaths, removeRelease, stageRelease } from '../model/host-commands.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

export async function runStage(step: Step, env: StepEnv, progress: Progress, wayBack: Record<string, string[]>): Promise<unknown> {
  const paths = appPaths(env.config.app.path);
  const archive = await readFile(env.artifact);
  const hosts = step.hosts ?? [];
  let done = 0;
  await forEachHost(hosts, env.config.ssh.concurrency, async (host) => {
    const dir = step.releases?.[host] ?? env.release.dir;
    const argv = stageRelease(paths, dir, { ...(env.config.app.build ? { build: env.config.app.build } : {}), keep: env.config.app.keep, alwaysKeep: wayBack[host] ?? [] });
    const timeoutMs = env.config.app.buildTimeout;
    try {
      await env.transports.get(host).run(argv, { stdin: archive, timeoutMs });
    } catch (err) {
      // Killed at the time limit: say which host hung, and for how long.
      if (err instanceof ExternalCommandError && err.timedOut) {
        throw new OperationFailedError(`staging ${dir} on ${host} did not finish within ${Math.round(timeoutMs / 1000)} s (app.buildTimeout): the build hangs or the host is too slow`);
      }
      throw err;
    }
    progress(`${++done}/${hosts.length} hosts staged`);
  });
  return { staged: step.releases };
}

export async function runUnstage(step: Step, env: StepEnv): Promise<unknown> {
  const paths = appPaths(env.config.app.path);
  await forEachHost(step.hosts ?? [], env.config.ssh.concurrency, async (host) => {
    const dir = step.releases?.[host];
    if (dir) await env.transports.get(host).run(removeRelease(paths, dir));
  });
  return { removed: step.releases };
}

// Staging adds a release directory beside the running one: what production serves is unchanged.
export const stageKind: StepKindSpec = {
  kind: 'stage',
  ...STEP_TRAITS.stage,
  run: (step, env, progress) => runStage(step, env, progress, env.wayBack),
};

export const unstageKind: StepKindSpec = {
  kind: 'unstage',
  ...STEP_TRAITS.unstage,
  run: (step, env) => runUnstage(step, env),
};
