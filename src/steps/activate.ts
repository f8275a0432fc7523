// Activate: switch `current`, restart, and wait until the host itself says it is healthy.
import { waitForLocalHealth } from '../checks/local-health.js';
import type { StepOf } from '../model/steps.js';
import { forEachHost } from '../transport/fan-out.js';
import type { Progress, StepEnv } from './env.js';
import { appPaths, switchAndRestart } from '../model/host-commands.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

export async function runActivate(step: StepOf<'activate'>, env: StepEnv, progress: Progress): Promise<unknown> {
  const paths = appPaths(env.config.app.path);
  const hosts = step.hosts;
  let healthy = 0;
  await forEachHost(hosts, env.config.ssh.concurrency, async (host) => {
    const t = env.transports.get(host);
    const dir = step.releases[host];
    if (!dir) throw new Error(`no release named for ${host}`);
    await t.run(switchAndRestart(paths, dir, env.config.app.restart));
    if (env.config.app.health) await waitForLocalHealth(t, env.config.app.health.url, env.config.app.health.timeout);
    progress(`${++healthy}/${hosts.length} hosts on ${dir}`);
  });
  return { current: step.releases };
}

export const activateKind: StepKindSpec<'activate'> = {
  kind: 'activate',
  ...STEP_TRAITS.activate,
  run: (step, env, progress) => runActivate(step, env, progress),
  effect: (step, state) => Object.assign(state.release, step.releases),
};
