// A release's artifact, built once: the tag exported into a clean folder, artifact.build run there
// (on the control machine, or on a build host by a TreeBuilder the caller passes in), the result
// packed here (artifact-pack.ts), so the bytes do not depend on the tar and gzip of the machine that
// built, and kept in a local cache, by commit and build command so the next plan, apply or resume
// of that tag finds the same bytes, and by hash so apply can take exactly the bytes a plan names.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationFailedError } from '../errors.js';
import { loadExeca } from '../lazy-modules.js';
import {
  artifactExtension,
  manifestOf,
  packTree,
  requireTools,
  sha256File,
  type Compression,
  type ManifestEntry,
} from './artifact-pack.js';
import { exportResolved, type ResolvedTag } from './git.js';
import type { RepoCacheOptions } from './repo-cache.js';

/** What to build and how to pack it: artifact: in baton.yml. */
export interface ArtifactSpec {
  build?: string;
  /** artifact.host: the build host the build runs on (absent: this machine). */
  host?: string;
  paths?: readonly string[];
  compression: Compression;
  /** Longest the build may take (ms). */
  timeout: number;
  /** Cache folder (absolute). */
  cache: string;
  /** Artifacts kept in the cache. */
  keep: number;
}

export interface BuiltArtifact {
  /** The packed artifact in the cache. */
  file: string;
  sha256: string;
  bytes: number;
  /** Files and symbolic links it holds. */
  files: number;
  /** The bytes of those files, unpacked (what a host's disk must hold of the release). */
  unpackedBytes: number;
  commit: string;
  /** Taken from the cache, not built now. */
  cached: boolean;
}

// Bump when packing changes: an artifact packed another way is another artifact.
const PACKING = 'baton-artifact/1';

/**
 * The cache key of a commit built and packed as `spec` says. A build host is part of it (another machine may build
 * other bytes); without one the key is what it always was.
 */
export function artifactKey(
  commit: string,
  spec: Pick<ArtifactSpec, 'build' | 'paths' | 'compression' | 'host'>,
): string {
  const parts = {
    packing: PACKING,
    commit,
    build: spec.build ?? null,
    paths: spec.paths ?? null,
    compression: spec.compression,
    ...(spec.host !== undefined ? { host: spec.host } : {}),
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const fileOf = (cache: string, sha: string, compression: Compression) =>
  join(cache, `${sha}.${artifactExtension(compression)}`);
const manifestFileOf = (cache: string, sha: string) => join(cache, `${sha}.files.json`);

/**
 * Fills `tree` (an empty local folder) with the built release from `exported`, the tag's `git archive` (tar.gz): how a
 * build elsewhere than this machine is plugged in. `where` names the machine in messages ("on build-1").
 */
export interface TreeBuilder {
  where: string;
  build(exported: string, tree: string, resolved: ResolvedTag, spec: ArtifactSpec): Promise<void>;
}

export interface ArtifactOptions extends RepoCacheOptions {
  progress?: (line: string) => void;
  /** Where artifact.build runs (default: this machine, in the export). */
  builder?: TreeBuilder;
}

/** The artifact of this commit when the cache holds one built as `spec` says (hash checked again), else undefined. */
export async function cachedArtifactFor(
  resolved: Pick<ResolvedTag, 'commit'>,
  spec: ArtifactSpec,
): Promise<Omit<BuiltArtifact, 'commit' | 'cached'> | undefined> {
  const known = await readFile(join(spec.cache, 'keys', artifactKey(resolved.commit, spec)), 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );
  return known ? cachedArtifact(spec.cache, known, spec.compression) : undefined;
}

/**
 * The artifact of this tag's commit: from the cache when it holds one built the same way (hash re-checked), else built
 * now.
 */
export async function artifactFor(
  repo: string,
  resolved: ResolvedTag,
  spec: ArtifactSpec,
  opts: ArtifactOptions = {},
): Promise<BuiltArtifact> {
  const hit = await cachedArtifactFor(resolved, spec);
  if (hit) return { ...hit, commit: resolved.commit, cached: true };
  const where = opts.builder?.where ?? 'on this machine';
  opts.progress?.(
    `building ${resolved.tag} (${resolved.shortCommit}) once ${where}${spec.build ? `: ${spec.build}` : ''}`,
  );
  const built = await buildArtifact(repo, resolved, spec, opts);
  await mkdir(join(spec.cache, 'keys'), { recursive: true });
  await writeFile(join(spec.cache, 'keys', artifactKey(resolved.commit, spec)), `${built.sha256}\n`);
  await pruneCache(spec.cache, spec.keep).catch(() => undefined); // housekeeping never fails a build
  return built;
}

/** The artifact with this hash when the cache holds it intact (its bytes hashed again), else undefined. */
export async function cachedArtifact(
  cache: string,
  sha: string,
  compression: Compression,
): Promise<Omit<BuiltArtifact, 'commit' | 'cached'> | undefined> {
  const file = fileOf(cache, sha, compression);
  if (!/^[0-9a-f]{64}$/.test(sha) || !existsSync(file)) return undefined;
  if ((await sha256File(file)) !== sha) {
    await rm(file, { force: true }); // damaged: never deployed, built again
    return undefined;
  }
  const manifest = await readManifest(cache, sha);
  const now = new Date();
  await utimes(file, now, now).catch(() => undefined); // recently used: pruned last
  return {
    file,
    sha256: sha,
    bytes: (await stat(file)).size,
    files: manifest?.length ?? 0,
    unpackedBytes: unpackedBytesOf(manifest ?? []),
  };
}

/** The bytes a file list's files take unpacked. */
export function unpackedBytesOf(manifest: readonly ManifestEntry[]): number {
  return manifest.reduce((sum, e) => sum + e.size, 0);
}

/** The file list kept beside an artifact in the cache, when it is there. */
export async function readManifest(cache: string, sha: string): Promise<ManifestEntry[] | undefined> {
  return readFile(manifestFileOf(cache, sha), 'utf8').then(
    (s) => JSON.parse(s) as ManifestEntry[],
    () => undefined,
  );
}

/**
 * Export the tag into a clean folder, build there (or have `opts.builder` build it elsewhere), pack here and hash; the
 * result lands in the cache under its hash.
 */
export async function buildArtifact(
  repo: string,
  resolved: ResolvedTag,
  spec: ArtifactSpec,
  opts: ArtifactOptions = {},
): Promise<BuiltArtifact & { manifest: ManifestEntry[] }> {
  await requireTools(spec.compression);
  await mkdir(spec.cache, { recursive: true });
  // Inside the cache, so the finished artifact is renamed into place, never half-written under its name.
  const work = await mkdtemp(join(spec.cache, '.build-'));
  try {
    const tree = join(work, 'tree');
    await mkdir(tree);
    const exported = await exportResolved(repo, resolved, join(work, 'export.tar.gz'), opts);
    await (opts.builder ?? localBuilder).build(exported.file, tree, resolved, spec);
    await rm(exported.file, { force: true });
    const manifest = await manifestOf(tree, spec.paths);
    const packed = await packTree(tree, join(work, 'artifact'), {
      ...(spec.paths ? { paths: spec.paths } : {}),
      compression: spec.compression,
    });
    await writeFile(manifestFileOf(spec.cache, packed.sha256), `${JSON.stringify(manifest)}\n`);
    const file = fileOf(spec.cache, packed.sha256, spec.compression);
    await rename(join(work, 'artifact'), file);
    return {
      file,
      sha256: packed.sha256,
      bytes: packed.bytes,
      files: manifest.length,
      unpackedBytes: unpackedBytesOf(manifest),
      commit: resolved.commit,
      cached: false,
      manifest,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** This machine: the export unpacked into the tree, artifact.build run there. */
const localBuilder: TreeBuilder = {
  where: 'on this machine',
  async build(exported, tree, resolved, spec) {
    const execa = await loadExeca();
    await execa('tar', ['-xzf', exported, '-C', tree]);
    if (!spec.build) return;
    const r = await execa('sh', ['-c', spec.build], {
      cwd: tree,
      all: true,
      reject: false,
      timeout: spec.timeout,
      stdin: 'ignore',
      env: { BATON_COMMIT: resolved.commit },
    });
    if (r.exitCode === 0) return;
    const why = r.timedOut
      ? 'timeout'
      : r.exitCode !== undefined
        ? { code: r.exitCode }
        : { signal: r.signal ?? 'a signal' };
    throw buildFailed(resolved, spec, 'on this machine', why, String(r.all ?? ''));
  },
};

/**
 * The error of artifact.build failing `where` ("on this machine", "on build-1"), with the last lines of its output:
 * nothing was sent to any host.
 */
export function buildFailed(
  resolved: Pick<ResolvedTag, 'tag' | 'shortCommit'>,
  spec: Pick<ArtifactSpec, 'build' | 'timeout'>,
  where: string,
  why: 'timeout' | { code: number } | { signal: string },
  output: string,
): OperationFailedError {
  const said =
    why === 'timeout'
      ? `did not finish within ${Math.round(spec.timeout / 1000)} s (artifact.timeout)`
      : 'code' in why
        ? `exited ${why.code}`
        : `was killed by ${why.signal}`;
  const lines = output.trimEnd().split('\n').slice(-20).join('\n');
  return new OperationFailedError(
    `building ${resolved.tag} (${resolved.shortCommit}) ${where} failed: ` +
      `\`${spec.build ?? ''}\` ${said}${lines ? `\n${lines.replace(/^/gm, '    ')}` : ''}`,
    'unchanged',
    'nothing was sent to any host; fix the build (artifact.build runs in a clean export of the tag) and push again',
  );
}

/**
 * Keep the `keep` most recently used artifacts (and their file lists); key files naming removed ones are left to miss.
 */
export async function pruneCache(cache: string, keep: number): Promise<void> {
  const names = (await readdir(cache)).filter((n) => /^[0-9a-f]{64}\.tar\.(gz|zst)$/.test(n));
  if (names.length <= keep) return;
  const dated = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(cache, n))).mtimeMs })));
  for (const { n } of dated.sort((a, b) => b.t - a.t).slice(keep)) {
    await rm(join(cache, n), { force: true });
    await rm(manifestFileOf(cache, n.slice(0, 64)), { force: true });
  }
}
