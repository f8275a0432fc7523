// A release is one tag at one commit, unpacked on a host as releases/<tag>-<short sha>.
import { UserError } from '../errors.js';

export interface Release {
  tag: string;
  commit: string;
  /** Directory name under <app.path>/releases. */
  dir: string;
}

const SAFE_TAG = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;

/** The release for a tag at a commit; refuses tags that cannot be a directory name safely. */
export function releaseFor(tag: string, commit: string): Release {
  if (!SAFE_TAG.test(tag) || tag.includes('..')) {
    throw new UserError(
      `tag "${tag}" cannot name a release directory`,
      'tags may use letters, digits, ".", "_", "-" and "/" (no "..")',
    );
  }
  if (!/^[0-9a-f]{7,64}$/.test(commit)) throw new UserError(`"${commit}" is not a commit id`);
  return { tag, commit, dir: `${tag.replaceAll('/', '_')}-${commit.slice(0, 7)}` };
}

/** The tag part of a release directory name (best effort, for display). */
export function tagOfDir(dir: string): string {
  return dir.replace(/-[0-9a-f]{7}$/, '');
}
