// A release is one tag at one commit, unpacked on a host as releases/<tag>-<short sha>.
import { UserError } from '../errors.js';

export interface Release {
  tag: string;
  commit: string;
  /** Directory name under <app.path>/releases. */
  dir: string;
}

const SAFE_TAG = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
// What a directory under releases/ may be called: one path segment, no "..", nothing a shell or a terminal reads
// specially.
const SAFE_DIR = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Refuses (exit 64) a tag that cannot name a release directory; checked before anything is asked of a host. */
export function checkTagName(tag: string): void {
  if (!SAFE_TAG.test(tag) || tag.includes('..')) {
    throw new UserError(
      `tag ${JSON.stringify(tag)} cannot name a release directory`,
      'tags may use letters, digits, ".", "_", "-" and "/" (no "..")',
    );
  }
}

/** How a plan that names a path where a release directory name belongs is told apart (refused, exit 3). */
export const NOT_A_RELEASE = 'is not a release directory name';

/** A release directory name: one safe path segment under releases/ (never "..", "/" or control characters). */
export function isReleaseDirName(dir: unknown): dir is string {
  return typeof dir === 'string' && SAFE_DIR.test(dir) && !dir.includes('..');
}

/** The release for a tag at a commit; refuses tags that cannot be a directory name safely. */
export function releaseFor(tag: string, commit: string): Release {
  checkTagName(tag);
  if (!/^[0-9a-f]{7,64}$/.test(commit)) throw new UserError(`"${commit}" is not a commit id`);
  return { tag, commit, dir: `${tag.replaceAll('/', '_')}-${commit.slice(0, 7)}` };
}

/**
 * The release a directory name stands for, as far as the name tells (its tag and short commit): for plans made from
 * what hosts run.
 */
export function releaseOfDir(dir: string): Release {
  return { tag: tagOfDir(dir), commit: /-([0-9a-f]{7})$/.exec(dir)?.[1] ?? '', dir };
}

/** The tag part of a release directory name (best effort, for display). */
export function tagOfDir(dir: string): string {
  return dir.replace(/-[0-9a-f]{7}$/, '');
}
