// Stage: send the release archive to every host and build it there while traffic still flows;
// nothing restarts. Old releases are pruned in the same round trip, never the running one or the way back.
// With an artifact built once (step.artifact), only hosts that lack it are sent it, and each checks its hash.
import { readFile } from 'node:fs/promises';
import { ExternalCommandError, OperationFailedError } from '../errors.js';
import type { StepOf } from '../model/steps.js';
import { forEachHost } from '../transport/fan-out.js';
import type { Progress, StepEnv } from './env.js';
import { appPaths, ARTIFACT_MISSING, removeRelease, stageArtifact, stageRelease } from '../model/host-commands.js';
import type { StepKindSpec } from './kind.js';
import { STEP_TRAITS } from '../model/step-kinds.js';

export async function runStage(
  step: StepOf<'stage'>,
  env: StepEnv,
  progress: Progress,
  wayBack: Record<string, string[]>,
): Promise<unknown> {
  if (step.artifact) return runStageArtifact(step, step.artifact, env, progress, wayBack);
  const paths = appPaths(env.config.app.path);
  const archive = await readFile(env.artifact);
  const hosts = step.hosts;
  let done = 0;
  await forEachHost(hosts, env.config.ssh.concurrency, async (host) => {
    const dir = step.releases[host] ?? env.release.dir;
    const argv = stageRelease(paths, dir, {
      ...(env.config.app.build ? { build: env.config.app.build } : {}),
      keep: env.config.app.keep,
      alwaysKeep: wayBack[host] ?? [],
    });
    const timeoutMs = env.config.app.buildTimeout;
    try {
      await env.transports.get(host).run(argv, { stdin: archive, timeoutMs });
    } catch (err) {
      // Killed at the time limit: say which host hung, and for how long.
      if (err instanceof ExternalCommandError && err.timedOut) {
        throw new OperationFailedError(
          `staging ${dir} on ${host} did not finish within ${Math.round(timeoutMs / 1000)} s ` +
            '(app.buildTimeout): the build hangs or the host is too slow',
        );
      }
      throw err;
    }
    progress(`${++done}/${hosts.length} hosts staged`);
  });
  return { staged: step.releases };
}

/**
 * Stage from the artifact built once: each host is asked first whether it holds the artifact (or
 * the release unpacked from it) and is sent the bytes only if not, `ssh.concurrency` at a time.
 * Every host checks the hash before it unpacks; nothing restarts.
 */
async function runStageArtifact(
  step: StepOf<'stage'>,
  sha256: string,
  env: StepEnv,
  progress: Progress,
  wayBack: Record<string, string[]>,
): Promise<unknown> {
  const { config } = env;
  const paths = appPaths(config.app.path);
  const archive = await readFile(env.artifact);
  const hosts = step.hosts;
  const timeoutMs = config.app.buildTimeout;
  const sent: string[] = [];
  const held: string[] = [];
  const started = performance.now();
  let sentBytes = 0;
  await forEachHost(hosts, config.ssh.concurrency, async (host) => {
    const dir = step.releases[host] ?? env.release.dir;
    const opts = {
      sha256,
      compression: config.artifact?.compression ?? 'gzip',
      ...(config.app.build ? { build: config.app.build } : {}),
      keep: config.app.keep,
      alwaysKeep: wayBack[host] ?? [],
    };
    const transport = env.transports.get(host);
    const staging = (receive: boolean) =>
      transport.run(stageArtifact(paths, dir, { ...opts, receive }), {
        ...(receive ? { stdin: archive } : {}),
        timeoutMs,
      });
    try {
      const first = await staging(false);
      if (first.stdout.trim() === ARTIFACT_MISSING) {
        await staging(true);
        sent.push(host);
        sentBytes += archive.length;
      } else held.push(host);
    } catch (err) {
      if (err instanceof ExternalCommandError && err.timedOut) {
        throw new OperationFailedError(
          `staging ${dir} on ${host} did not finish within ${Math.round(timeoutMs / 1000)} s ` +
            '(app.buildTimeout): the upload or app.build hangs, or the host is too slow',
        );
      }
      throw err;
    }
    progress(
      `${sent.length + held.length}/${hosts.length} hosts staged:` +
        ` ${describeSent(sentBytes, sent.length, performance.now() - started)}, ${held.length} held it already`,
    );
  });
  return { staged: step.releases, artifact: sha256, sent: sent.sort(), held: held.sort(), sentBytes };
}

/** "sent 48.2 MB to 3 hosts at 31.5 MB/s": what the upload cost so far. */
export function describeSent(bytes: number, hosts: number, ms: number): string {
  if (!hosts) return 'sent nothing';
  return (
    `sent ${megabytes(bytes)} to ${hosts} host${hosts === 1 ? '' : 's'} ` +
    `at ${megabytes(ms > 0 ? (bytes * 1000) / ms : bytes)}/s`
  );
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export async function runUnstage(step: StepOf<'unstage'>, env: StepEnv): Promise<unknown> {
  const paths = appPaths(env.config.app.path);
  await forEachHost(step.hosts, env.config.ssh.concurrency, async (host) => {
    const dir = step.releases[host];
    if (dir) await env.transports.get(host).run(removeRelease(paths, dir));
  });
  return { removed: step.releases };
}

// Staging adds a release directory beside the running one: what production serves is unchanged.
export const stageKind: StepKindSpec<'stage'> = {
  kind: 'stage',
  ...STEP_TRAITS.stage,
  run: (step, env, progress) => runStage(step, env, progress, env.wayBack),
};

export const unstageKind: StepKindSpec<'unstage'> = {
  kind: 'unstage',
  ...STEP_TRAITS.unstage,
  run: (step, env) => runUnstage(step, env),
};
