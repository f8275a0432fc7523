// Stage: upload the release archive and build it on every host while traffic still flows; nothing restarts.
import { forEachHost } from '../transport/fan-out.js';
import type { Step } from '../model/plan.js';
import type { StepEnv, Progress } from './env.js';
import { appPaths, prepareDirs, removeRelease, unpackAndBuild, uploadPath } from './host-commands.js';

export async function runStage(step: Step, env: StepEnv, progress: Progress): Promise<unknown> {
  const paths = appPaths(env.config.app.path);
  let done = 0;
  const hosts = step.hosts ?? [];
  await forEachHost(hosts, env.config.ssh.concurrency, async (host) => {
    const t = env.transports.get(host);
    const dir = step.releases?.[host] ?? env.release.dir;
    await t.run(prepareDirs(paths));
    await t.upload(env.artifact, uploadPath(paths, dir));
    await t.run(unpackAndBuild(paths, dir, env.config.app.build));
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
