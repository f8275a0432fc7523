import type { Step } from '../model/plan.js';
import { forEachHost } from '../transport/fan-out.js';
import type { StepEnv } from './env.js';
import { appPaths, pruneReleases } from './host-commands.js';

/** Keep app.keep releases per host; the one just deployed and any named in the plan's undo stay. */
export async function runPrune(step: Step, env: StepEnv, alwaysKeep: Record<string, string[]>): Promise<unknown> {
  const paths = appPaths(env.config.app.path);
  const removed: Record<string, string[]> = {};
  await forEachHost(step.hosts ?? [], env.config.ssh.concurrency, async (host) => {
    const r = await env.transports.get(host).run(pruneReleases(paths, env.config.app.keep, alwaysKeep[host] ?? []));
    removed[host] = r.stdout.split('\n').filter(Boolean);
  });
  return { removed };
}
