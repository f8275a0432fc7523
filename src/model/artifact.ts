// The artifact a push deploys, as its plan records it: the SHA-256 of the packed bytes (what an
// approval covers and each host checks), and how it was made. Comparing two artifacts' file
// lists says why a rebuild gave other bytes.
import type { ManifestEntry } from '../vcs/artifact-pack.js';

export interface PlanArtifact {
  /** SHA-256 of the packed (compressed) artifact, hex. */
  sha256: string;
  bytes: number;
  /** Files and symbolic links in it. */
  files: number;
  compression: 'gzip' | 'zstd';
  /** artifact.build when the plan was made (absent: the tag's tree as it is). */
  build?: string;
  /** The build host it was built on (absent: the machine that made the plan). */
  host?: string;
  /** Its files' bytes unpacked, counted when it was packed (absent in plans made before it was recorded). */
  unpackedBytes?: number;
  /** artifact.paths when the plan was made (absent: the whole tree). */
  paths?: string[];
}

/** A short form of the hash for titles and messages. */
export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

/** How the artifact baton.yml makes differs from the one a plan records, key by key (empty: made the same way). */
export function recipeDifferences(
  planned: PlanArtifact,
  config: { build?: string; paths?: readonly string[]; compression: string },
): string[] {
  const out: string[] = [];
  const show = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
  if ((planned.build ?? undefined) !== (config.build ?? undefined))
    out.push(`artifact.build: plan ${show(planned.build)}, baton.yml ${show(config.build)}`);
  if (JSON.stringify(planned.paths ?? null) !== JSON.stringify(config.paths ?? null))
    out.push(`artifact.paths: plan ${show(planned.paths)}, baton.yml ${show(config.paths)}`);
  if (planned.compression !== config.compression)
    out.push(`artifact.compression: plan ${planned.compression}, baton.yml ${config.compression}`);
  return out;
}

/** Files added, removed or changed between two file lists, each as one line naming the path (sorted by path). */
export function manifestDifferences(planned: readonly ManifestEntry[], rebuilt: readonly ManifestEntry[]): string[] {
  const before = new Map(planned.map((e) => [e.path, e]));
  const after = new Map(rebuilt.map((e) => [e.path, e]));
  const out: { path: string; line: string }[] = [];
  for (const [path, b] of before) {
    const a = after.get(path);
    if (!a) out.push({ path, line: `${path}: only in the planned artifact` });
    else if (a.content !== b.content)
      out.push({ path, line: `${path}: content differs${a.size !== b.size ? ` (${b.size} → ${a.size} bytes)` : ''}` });
    else if (a.mode !== b.mode) out.push({ path, line: `${path}: mode ${b.mode} → ${a.mode}` });
  }
  for (const path of after.keys())
    if (!before.has(path)) out.push({ path, line: `${path}: only in the rebuilt artifact` });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)).map((d) => d.line);
}
