// The release archive a run uploads, and refused (exit 3) when it is not what the plan was made,
// reviewed and rehearsed for: a tag that moved to another commit, or (with artifact: in baton.yml)
// an artifact whose SHA-256 is not the plan's, with the files that differ named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { BugError, PlanRefusedError } from '../errors.js';
import { manifestDifferences, shortSha, type PlanArtifact } from '../model/artifact.js';
import type { Plan } from '../model/plan.js';
import { releaseFor, type Release } from '../model/release.js';
import type { Transports } from '../transport/types.js';
import {
  artifactFor,
  cachedArtifact,
  readManifest,
  type ArtifactOptions,
  type ArtifactSpec,
  type BuiltArtifact,
} from '../vcs/artifact-build.js';
import { exportResolved, exportTag, resolveTag, type ResolvedTag } from '../vcs/git.js';
import { buildHostBuilder } from './build-host.js';

export async function exportPlannedRelease(config: Config, release: Release, outFile: string): Promise<void> {
  const exported = await exportTag(config.app.repo, release.tag, outFile, { requireSigned: config.app.signedTags });
  if (exported.commit !== release.commit) throw movedTag(release, exported.commit);
}

function movedTag(release: Release, now: string): PlanRefusedError {
  return new PlanRefusedError(
    `tag ${release.tag} now points at ${now}, not ${release.commit} as planned`,
    'a moved tag is a different release: make a new plan (or `baton rollback` to undo an interrupted run)',
  );
}

/** A release archive exported (or an artifact built) ahead of the run: push makes it while it observes and plans. */
export interface PreparedArtifact {
  file: string;
  /** The commit the archive holds. */
  commit: string;
  /** With artifact: in baton.yml, what the plan records of it. */
  record?: PlanArtifact;
  dispose(): void;
}

/** Export the tag `resolving` resolves into a new temporary folder, as soon as it resolves. */
export async function prepareArtifact(config: Config, resolving: Promise<ResolvedTag>): Promise<PreparedArtifact> {
  const resolved = await resolving;
  const dir = mkdtempSync(join(tmpdir(), 'baton-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  try {
    const file = join(dir, `${releaseFor(resolved.tag, resolved.commit).dir}.tar.gz`);
    await exportResolved(config.app.repo, resolved, file);
    return { file, commit: resolved.commit, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** artifact: in baton.yml as the builder takes it. */
export function artifactSpec(config: Config): ArtifactSpec | undefined {
  const a = config.artifact;
  if (!a) return undefined;
  return {
    ...(a.build !== undefined ? { build: a.build } : {}),
    ...(a.host !== undefined ? { host: a.host } : {}),
    ...(a.paths ? { paths: a.paths } : {}),
    compression: a.compression,
    timeout: a.timeout,
    cache: a.cache,
    keep: a.keep,
  };
}

/** Where artifact.build runs: on artifact.host through `transports` (the run's own, keys checked), else here. */
function builderOf(spec: ArtifactSpec, transports: Transports | undefined): Pick<ArtifactOptions, 'builder'> {
  if (spec.host === undefined) return {};
  if (!transports) throw new BugError('an artifact built on a build host without the transports to reach it');
  return { builder: buildHostBuilder(transports, spec.host) };
}

/** What a plan records of an artifact. */
export function planArtifactOf(
  built: Pick<BuiltArtifact, 'sha256' | 'bytes' | 'files' | 'unpackedBytes'>,
  spec: ArtifactSpec,
): PlanArtifact {
  return {
    sha256: built.sha256,
    bytes: built.bytes,
    files: built.files,
    unpackedBytes: built.unpackedBytes,
    compression: spec.compression,
    ...(spec.build !== undefined ? { build: spec.build } : {}),
    ...(spec.host !== undefined ? { host: spec.host } : {}),
    ...(spec.paths ? { paths: [...spec.paths] } : {}),
  };
}

/**
 * Build the artifact of the tag `resolving` resolves (or take it from the cache) for a plan to record; it stays in the
 * cache.
 */
export async function buildPlannedArtifact(
  config: Config,
  transports: Transports,
  resolving: Promise<ResolvedTag>,
  progress?: (line: string) => void,
): Promise<PreparedArtifact> {
  const spec = artifactSpec(config);
  if (!spec) throw new BugError('buildPlannedArtifact without artifact: in baton.yml');
  const resolved = await resolving;
  const built = await artifactFor(config.app.repo, resolved, spec, {
    ...(progress ? { progress } : {}),
    ...builderOf(spec, transports),
  });
  progress?.(
    `artifact of ${resolved.tag}: sha256 ${shortSha(built.sha256)}, ${built.files}` +
      ` files, ${(built.bytes / 1e6).toFixed(1)} MB${built.cached ? ' (from the cache)' : ''}`,
  );
  return { file: built.file, commit: resolved.commit, record: planArtifactOf(built, spec), dispose: () => undefined };
}

/**
 * The file a run of `plan` uploads, ready at `workFile` or elsewhere (the path is returned). With an
 * artifact in the plan: those exact bytes from the cache, else built again from the tag and refused
 * (exit 3) unless the build gives the same SHA-256, naming the files that differ. Without one: the tag
 * exported as before. `transports` reach artifact.host when the build runs there.
 */
export async function releaseArchiveFor(
  config: Config,
  plan: Pick<Plan, 'release' | 'artifact'>,
  workFile: string,
  transports?: Transports,
): Promise<string> {
  const planned = plan.artifact;
  const spec = artifactSpec(config);
  if (!planned || !spec) {
    await exportPlannedRelease(config, plan.release, workFile);
    return workFile;
  }
  const held = await cachedArtifact(spec.cache, planned.sha256, planned.compression);
  if (held) return held.file;
  const resolved = await resolveTag(config.app.repo, plan.release.tag, { requireSigned: config.app.signedTags });
  if (resolved.commit !== plan.release.commit) throw movedTag(plan.release, resolved.commit);
  const rebuilt = await artifactFor(config.app.repo, resolved, spec, builderOf(spec, transports));
  if (rebuilt.sha256 !== planned.sha256) throw await changedArtifact(spec.cache, plan.release, planned, rebuilt);
  return rebuilt.file;
}

/**
 * The refusal of a rebuilt artifact whose bytes are not the planned ones, naming the files that differ where both file
 * lists are known.
 */
export async function changedArtifact(
  cache: string,
  release: Release,
  planned: PlanArtifact,
  rebuilt: Pick<BuiltArtifact, 'sha256' | 'files'>,
): Promise<PlanRefusedError> {
  const [before, after] = await Promise.all([readManifest(cache, planned.sha256), readManifest(cache, rebuilt.sha256)]);
  const details = !before
    ? [
        `the planned artifact (${planned.files} files) is not in this machine's cache (${cache}), ` +
          'so its files cannot be compared: it was built elsewhere, or removed; ' +
          `the rebuilt one has ${rebuilt.files} files`,
      ]
    : !after
      ? ["the rebuilt artifact's file list is missing from the cache"]
      : manifestDifferences(before, after);
  if (before && after && details.length === 0)
    details.push(
      "the same files, packed into other bytes: another tar, gzip or zstd than the one that built the plan's artifact",
    );
  const shown = details.slice(0, 20);
  return new PlanRefusedError(
    `the artifact of ${release.dir} built now is sha256 ${shortSha(rebuilt.sha256)}, ` +
      `not ${shortSha(planned.sha256)} as planned and approved: ` +
      `the build gave other bytes\n ` +
      ` ${shown.join('\n  ')}${details.length > shown.length ? `\n  …and ${details.length - shown.length} more` : ''}`,
    'nothing was sent to any host. Make the build reproducible (the files named differ from one build to the ' +
      'next), or make, review and approve a new plan: it records the artifact now in the cache',
    details,
  );
}
