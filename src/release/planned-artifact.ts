// The release archive a run uploads, exported from the tag the plan names, and refused (exit 3)
// when the tag no longer points at the commit the plan was made, reviewed and rehearsed for.
import type { Config } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import type { Release } from '../model/release.js';
import { exportTag } from '../vcs/git.js';

export async function exportPlannedRelease(config: Config, release: Release, outFile: string): Promise<void> {
  const exported = await exportTag(config.app.repo, release.tag, outFile, { requireSigned: config.app.signedTags });
  if (exported.commit !== release.commit) {
    throw new PlanRefusedError(
      `tag ${release.tag} now points at ${exported.commit}, not ${release.commit} as planned`,
      'a moved tag is a different release: make a new plan (or `baton rollback` to undo an interrupted run)',
    );
  }
}
