// Building an artifact on a build host (artifact.host) over the same SSH transport as every host
// (its key checked against ssh.knownHosts). The tag's `git archive` from this machine's repository
// is sent there, not fetched there: the build host needs no access to the repository, and builds
// exactly the commit this machine resolved (and checked the signature of). The built tree comes
// back and is packed here, so the artifact's bytes do not depend on the build host's tar or gzip:
// a deterministic build gives the same SHA-256 wherever it ran.
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ExternalCommandError, OperationFailedError, UserError } from '../errors.js';
import { loadExeca } from '../lazy-modules.js';
import {
  buildInDir,
  buildLogTail,
  EXPORT_NAME,
  makeBuildDir,
  packForTrip,
  parseBuildDir,
  PATH_MISSING,
  removeBuildDir,
  TRIP_NAME,
} from '../model/build-host-commands.js';
import type { Transport, Transports } from '../transport/types.js';
import { buildFailed, type TreeBuilder } from '../vcs/artifact-build.js';

/** A TreeBuilder that runs artifact.build on `host`, as the SSH user, in a folder removed afterwards. */
export function buildHostBuilder(transports: Transports, host: string): TreeBuilder {
  const where = `on ${host}`;
  return {
    where,
    async build(exported, tree, resolved, spec) {
      const t = transports.get(host);
      const made = await t.run(makeBuildDir());
      const dir = parseBuildDir(made.stdout);
      if (!dir)
        throw new OperationFailedError(
          `building ${resolved.tag} ${where}: mktemp -d printed ${JSON.stringify(made.stdout.trim())}, not a folder`,
          'unchanged',
        );
      try {
        await t.upload(exported, `${dir}/${EXPORT_NAME}`);
        const why = await runBuild(t, dir, spec.build ?? 'true', resolved.commit, spec.timeout);
        if (why) throw buildFailed(resolved, spec, where, why, await logTail(t, dir));
        const packed = await t.run(packForTrip(dir, spec.paths ?? []), { allowFailure: true });
        if (packed.code === PATH_MISSING)
          throw new UserError(
            `artifact.paths: ${packed.stdout.trim()} is not in the tree built ${where}`,
            'check artifact.paths against what artifact.build leaves',
          );
        if (packed.code !== 0)
          throw new OperationFailedError(
            `packing the tree built ${where} for the trip back failed (exit ${packed.code}): ${packed.stderr.trim()}`,
            'unchanged',
          );
        const back = join(dirname(tree), TRIP_NAME);
        await t.download(`${dir}/${TRIP_NAME}`, back);
        await (
          await loadExeca()
        )('tar', ['-xzf', back, '-C', tree]);
        await rm(back, { force: true });
      } finally {
        // Housekeeping on the build host never hides why the build failed.
        await t.run(removeBuildDir(dir), { allowFailure: true }).catch(() => undefined);
      }
    },
  };
}

/** Run the build; undefined when it succeeded, else how it ended. */
async function runBuild(
  t: Transport,
  dir: string,
  build: string,
  commit: string,
  timeoutMs: number,
): Promise<'timeout' | { code: number } | undefined> {
  try {
    const r = await t.run(buildInDir(dir, build, commit), { timeoutMs, allowFailure: true });
    return r.code === 0 ? undefined : { code: r.code };
  } catch (err) {
    if (err instanceof ExternalCommandError && err.timedOut) return 'timeout';
    throw err;
  }
}

async function logTail(t: Transport, dir: string): Promise<string> {
  const r = await t.run(buildLogTail(dir), { allowFailure: true }).catch(() => undefined);
  return r?.code === 0 ? r.stdout : '';
}
