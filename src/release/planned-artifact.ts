// The release archive a run uploads, exported from the tag the plan names, and refused (exit 3)
// when the tag no longer points at the commit the plan was made, reviewed and rehearsed for.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import { releaseFor, type Release } from '../model/release.js';
import { exportResolved, exportTag, type ResolvedTag } from '../vcs/git.js';

export async function exportPlannedRelease(config: Config, release: Release, outFile: string): Promise<void> {
  const exported = await exportTag(config.app.repo, release.tag, outFile, { requireSigned: config.app.signedTags });
  if (exported.commit !== release.commit) {
    throw new PlanRefusedError(
      `tag ${release.tag} now points at ${exported.commit}, not ${release.commit} as planned`,
      'a moved tag is a different release: make a new plan (or `baton rollback` to undo an interrupted run)',
    );
  }
}

/** A release archive exported ahead of the run (push exports while it observes and plans). */
export interface PreparedArtifact {
  file: string;
  /** The commit the archive holds. */
  commit: string;
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
