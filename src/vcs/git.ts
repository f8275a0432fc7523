// Tags, commits and exports from the app's git repository (simple-git), on the control side.
// A release is always made from a tag's commit through `git archive`, never from a working tree,
// so what reaches the hosts is exactly what the tag names. Tag names are untrusted text: they are
// only ever passed as single argv words under refs/tags/, never to a shell.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { UserError } from '../errors.js';
import { openRepo, isRepoUrl, type RepoCacheOptions } from './repo-cache.js';

export interface ResolvedTag {
  tag: string;
  /** Full commit id the tag points at (peeled through annotated tags). */
  commit: string;
  /** First 12 hex digits of the commit: fixed length, so release directory names are stable. */
  shortCommit: string;
  /** Whether the tag carries a signature (PGP or SSH); verified when requireSigned. */
  signed: boolean;
}

export interface ResolveOptions extends RepoCacheOptions {
  /** Refuse a tag without a signature that `git verify-tag` accepts (app.signedTags). */
  requireSigned?: boolean;
}

/** Resolve TAG to its commit; a missing, malformed or (when required) unsigned tag is a UserError. */
export async function resolveTag(repo: string, tag: string, opts: ResolveOptions = {}): Promise<ResolvedTag> {
  const git = await open(repo, opts);
  const ref = `refs/tags/${tag}`;
  // Each git call is a process (~20 ms): those that do not depend on each other run at once, and
  // what they read is used only once the name is known to be valid and the tag to exist.
  const [valid, peeled, object] = await Promise.all([
    git.raw(['check-ref-format', ref]).then(
      () => true,
      () => false,
    ),
    git.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]).catch(() => ''),
    git.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', ref]).catch(() => ''),
  ]);
  // `git tag` itself also refuses names starting with a dash
  if (!valid || tag.length === 0 || tag.startsWith('-')) {
    throw new UserError(
      `${JSON.stringify(tag)} is not a valid git tag name`,
      'see `git help check-ref-format` for what a tag may contain',
    );
  }
  const commit = peeled.trim();
  const tagObject = object.trim();
  if (!/^[0-9a-f]{40,64}$/.test(commit) || !/^[0-9a-f]{40,64}$/.test(tagObject)) throw await missingTag(git, repo, tag);

  // An annotated tag's body (with its signature, if any); a lightweight tag has none. cat-file -p
  // fails only on a missing object, which rev-parse has just found.
  const [typeLine, content] = await Promise.all([
    git.raw(['cat-file', '-t', tagObject]),
    git.raw(['cat-file', '-p', tagObject]),
  ]);
  const type = typeLine.trim();
  const body = type === 'tag' ? content : '';
  const signed = /-----BEGIN (PGP|SSH) SIGNATURE-----/.test(body);
  if (opts.requireSigned) {
    if (!signed) {
      throw new UserError(
        `tag ${tag} is not signed (${type === 'tag' ? 'annotated, no signature' : 'lightweight tag'}), ` +
          'and app.signedTags requires a signed tag',
        `sign it: git tag -s ${tag} ${commit.slice(0, 12)} (after deleting the unsigned one), then push it`,
      );
    }
    // Verify by object id: the name is never parsed as an option or pattern.
    const check = await git.raw(['verify-tag', tagObject]).then(
      () => undefined,
      (err: Error) => err.message.trim(),
    );
    if (check !== undefined) {
      throw new UserError(
        `the signature on tag ${tag} does not verify: ${check || 'git verify-tag failed'}`,
        'check the signer is trusted here (gpg keyring, or gpg.ssh.allowedSignersFile for SSH signatures)',
      );
    }
  }
  return { tag, commit, shortCommit: commit.slice(0, 12), signed };
}

/** Every tag, oldest version first (git's version sort). */
export async function listTags(repo: string, opts: RepoCacheOptions = {}): Promise<string[]> {
  return tagsOf(await open(repo, opts));
}

async function tagsOf(git: SimpleGit): Promise<string[]> {
  const out = await git.raw(['for-each-ref', '--sort=v:refname', '--format=%(refname:strip=2)', 'refs/tags/']);
  return out.split('\n').filter(Boolean);
}

/** Write the tree of TAG's commit as a .tar.gz (no top-level folder) to outFile. */
export async function exportTag(
  repo: string,
  tag: string,
  outFile: string,
  opts: ResolveOptions = {},
): Promise<ResolvedTag & { file: string; bytes: number }> {
  return exportResolved(repo, await resolveTag(repo, tag, opts), outFile, opts);
}

/** Write the tree of a tag resolveTag has just resolved as a .tar.gz (no top-level folder) to outFile. */
export async function exportResolved(
  repo: string,
  resolved: ResolvedTag,
  outFile: string,
  opts: RepoCacheOptions = {},
): Promise<ResolvedTag & { file: string; bytes: number }> {
  const git = await open(repo, opts);
  const file = resolve(outFile);
  await git.raw(['archive', '--format=tar.gz', '-o', file, resolved.commit]);
  return { ...resolved, file, bytes: (await stat(file)).size };
}

/** Bytes the tree of `commit` takes unpacked: the sum of its blobs' sizes (what preflight needs free on each host). */
export async function unpackedSize(repo: string, commit: string, opts: RepoCacheOptions = {}): Promise<number> {
  if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new UserError(`${JSON.stringify(commit)} is not a full commit id`);
  return sumBlobSizes(await (await open(repo, opts)).raw(['ls-tree', '-r', '-l', '--end-of-options', commit]));
}

/** Sum the sizes in `git ls-tree -r -l` output (`mode type id size\tpath`); submodules (size `-`) count nothing. */
export function sumBlobSizes(lsTree: string): number {
  let total = 0;
  for (const line of lsTree.split('\n')) {
    const m = /^\d+ blob [0-9a-f]+ +(\d+)\t/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

async function open(repo: string, opts: RepoCacheOptions): Promise<SimpleGit> {
  const dir = isRepoUrl(repo) ? await openRepo(repo, opts) : resolve(repo);
  if (!existsSync(dir)) throw new UserError(`git repository ${repo} does not exist`, 'check app.repo in baton.yml');
  const git = simpleGit({
    baseDir: dir,
    // simple-git only fails a command that exited non-zero AND wrote to stderr; a check such as
    // check-ref-format or verify-tag must fail on the exit code alone.
    errors: (error, result) =>
      error ?? (result.exitCode === 0 ? undefined : Buffer.concat([...result.stdOut, ...result.stdErr])),
  });
  const ok = await git.raw(['rev-parse', '--git-dir']).then(
    () => true,
    () => false,
  );
  if (!ok) throw new UserError(`${repo} is not a git repository`, 'check app.repo in baton.yml');
  return git;
}

async function missingTag(git: SimpleGit, repo: string, tag: string): Promise<UserError> {
  const tags = await tagsOf(git);
  if (tags.length === 0) {
    return new UserError(
      `tag ${tag} does not exist in ${repo}: the repository has no tags`,
      `create and push it first: git tag ${tag} && git push origin ${tag}`,
    );
  }
  const near = nearest(tag, tags, 5);
  return new UserError(
    `tag ${tag} does not exist in ${repo}; ` +
      `nearest existing tags: ${near.join(', ')}${tags.length > near.length ? ` (${tags.length} tags in all)` : ''}`,
    `check the spelling, or create and push the tag first: git tag ${tag} && git push origin ${tag}`,
  );
}

/** The `n` tags closest to `want` by edit distance; ties go to the newer version. */
export function nearest(want: string, tags: readonly string[], n: number): string[] {
  return tags
    .map((t, i) => ({ t, i, d: editDistance(want, t) }))
    .sort((a, b) => a.d - b.d || b.i - a.i)
    .slice(0, n)
    .map((x) => x.t);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
