import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../src/errors.js';
import { exportTag, listTags, nearest, resolveTag, sumBlobSizes, unpackedSize } from '../../src/vcs/git.js';
import { isRepoUrl } from '../../src/vcs/repo-cache.js';

// Everything git accepts in a tag name that a shell would not take literally.
const ODD_TAGS = [
  'v1;rm-rf',
  '$(touch-pwned)',
  '`touch-pwned`',
  'a|b&c',
  '{a,b}',
  '#x',
  '!x',
  'release/2026-01',
  'ü-tag',
  "it's",
];
const root = mkdtempSync(join(tmpdir(), 'baton-vcs-'));
const repo = join(root, 'app');
const commits: Record<string, string> = {};

function git(...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args],
    {
      cwd: repo,
      encoding: 'utf8',
    },
  ).trim();
}

function commit(file: string, text: string): string {
  writeFileSync(join(repo, file), text);
  git('add', file);
  git('commit', '-q', '-m', `edit ${file}`);
  return git('rev-parse', 'HEAD');
}

beforeAll(() => {
  execFileSync('git', ['init', '-q', repo]);
  commits.one = commit('app.txt', 'version 1\n');
  git('tag', 'v1.0.0');
  commits.two = commit('app.txt', 'version 2\n');
  git('tag', '-a', '-m', 'second', 'v1.1.0');
  git('tag', 'v1.2.0');
  for (const t of ODD_TAGS) git('tag', '--', t);
  // SSH-signed tag, with an allowed-signers file so verify-tag can check it
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'signer', '-f', join(root, 'signer')]);
  const pub = readFileSync(join(root, 'signer.pub'), 'utf8').trim();
  writeFileSync(join(root, 'allowed_signers'), `test@example.com ${pub}\n`);
  git('config', 'gpg.ssh.allowedSignersFile', join(root, 'allowed_signers'));
  git('-c', 'gpg.format=ssh', '-c', `user.signingkey=${join(root, 'signer')}`, 'tag', '-s', '-m', 'signed', 'v2.0.0');
  // signed by a key nobody allowed
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stranger', '-f', join(root, 'stranger')]);
  git(
    '-c',
    'gpg.format=ssh',
    '-c',
    `user.signingkey=${join(root, 'stranger')}`,
    'tag',
    '-s',
    '-m',
    'signed by a stranger',
    'v2.0.1',
  );
  // the working tree moves on; exports must not see it
  writeFileSync(join(repo, 'app.txt'), 'uncommitted edit\n');
  writeFileSync(join(repo, 'untracked.txt'), 'not in git\n');
});

describe('resolveTag', () => {
  it('resolves lightweight and annotated tags to their commit', async () => {
    expect(await resolveTag(repo, 'v1.0.0')).toEqual({
      tag: 'v1.0.0',
      commit: commits.one,
      shortCommit: commits.one!.slice(0, 12),
      signed: false,
    });
    expect((await resolveTag(repo, 'v1.1.0')).commit).toBe(commits.two);
  });

  it('takes tag names with shell and path characters literally', async () => {
    for (const t of ODD_TAGS) expect((await resolveTag(repo, t)).commit).toBe(commits.two);
    expect(() => readFileSync(join(repo, 'touch-pwned'))).toThrow();
  });

  it('fails on a missing tag, naming it and the nearest existing tags', async () => {
    const err = (await resolveTag(repo, 'v1.3.0').catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      new RegExp(
        /^tag v1\.3\.0 does not exist in .*; nearest existing tags: v1\.2\.0, v1\.1\.0, v1\.0\.0, /.source +
          /v2\.0\.0, v2\.0\.1 \(\d+ tags in all\)$/.source,
      ),
    );
    expect(err.hint).toContain('git tag v1.3.0');
  });

  it('fails on a name git would never accept as a tag, and on a path that is not a repository', async () => {
    await expect(resolveTag(repo, 'bad..name')).rejects.toThrow(/not a valid git tag name/);
    await expect(resolveTag(repo, 'a b')).rejects.toThrow(/not a valid git tag name/);
    await expect(resolveTag(repo, '')).rejects.toThrow(/not a valid git tag name/);
    await expect(resolveTag(repo, '-dash')).rejects.toThrow(/not a valid git tag name/);
    await expect(resolveTag(root, 'v1.0.0')).rejects.toThrow(/is not a git repository/);
    await expect(resolveTag(join(root, 'missing'), 'v1.0.0')).rejects.toThrow(/does not exist/);
  });

  it('with requireSigned, accepts a verified signature and refuses unsigned or untrusted tags', async () => {
    expect(await resolveTag(repo, 'v2.0.0', { requireSigned: true })).toMatchObject({
      signed: true,
      commit: commits.two,
    });
    await expect(resolveTag(repo, 'v1.1.0', { requireSigned: true })).rejects.toThrow(
      /tag v1\.1\.0 is not signed \(annotated, no signature\)/,
    );
    await expect(resolveTag(repo, 'v1.0.0', { requireSigned: true })).rejects.toThrow(/not signed \(lightweight tag\)/);
    expect((await resolveTag(repo, 'v2.0.1')).signed).toBe(true);
    await expect(resolveTag(repo, 'v2.0.1', { requireSigned: true })).rejects.toThrow(
      /signature on tag v2\.0\.1 does not verify/,
    );
  });
});

describe('listTags', () => {
  it('lists every tag in version order', async () => {
    const tags = await listTags(repo);
    expect(tags).toEqual(expect.arrayContaining([...ODD_TAGS, 'v1.0.0', 'v2.0.1']));
    expect(tags.indexOf('v1.0.0')).toBeLessThan(tags.indexOf('v1.2.0'));
    expect(tags.indexOf('v1.2.0')).toBeLessThan(tags.indexOf('v2.0.0'));
  });
});

describe('exportTag', () => {
  it("archives the tag's commit, never the working tree", async () => {
    const out = join(root, 'v1.tar.gz');
    const r = await exportTag(repo, 'v1.0.0', out);
    expect(r).toMatchObject({ tag: 'v1.0.0', commit: commits.one, file: out });
    expect(r.bytes).toBeGreaterThan(0);
    expect(execFileSync('tar', ['-tzf', out], { encoding: 'utf8' }).trim().split('\n')).toEqual(['app.txt']);
    expect(execFileSync('tar', ['-xzOf', out, 'app.txt'], { encoding: 'utf8' })).toBe('version 1\n');
  });

  it('exports a tag with an odd name', async () => {
    const out = join(root, 'odd.tar.gz');
    await exportTag(repo, '$(touch-pwned)', out);
    expect(execFileSync('tar', ['-xzOf', out, 'app.txt'], { encoding: 'utf8' })).toBe('version 2\n');
  });

  it('fails before writing anything when the tag is missing', async () => {
    const out = join(root, 'none.tar.gz');
    await expect(exportTag(repo, 'v9', out)).rejects.toThrow(UserError);
    expect(() => readFileSync(out)).toThrow();
  });
});

describe('unpackedSize', () => {
  it("sums the blob sizes of the commit's tree", async () => {
    expect(await unpackedSize(repo, commits.two!)).toBe('version 2\n'.length);
  });

  it('refuses anything but a full commit id, so nothing else reaches git as a revision', async () => {
    await expect(unpackedSize(repo, '--output=/tmp/x')).rejects.toThrow(UserError);
  });

  it('counts nothing for a submodule', () => {
    const lsTree = [
      '100644 blob 83baae61804e65cc73a7201a7252750c76066a30     120\tapp.txt',
      '160000 commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904       -\tvendor/lib',
      '100755 blob 83baae61804e65cc73a7201a7252750c76066a31 3000\tbin/run',
      '',
    ].join('\n');
    expect(sumBlobSizes(lsTree)).toBe(3120);
  });
});

describe('repositories given as URLs', () => {
  it('tells URLs from local paths', () => {
    expect(isRepoUrl('file:///srv/repo.git')).toBe(true);
    expect(isRepoUrl('https://git.example.com/shop.git')).toBe(true);
    expect(isRepoUrl('git@git.example.com:shop.git')).toBe(true);
    expect(isRepoUrl('/srv/repo')).toBe(false);
    expect(isRepoUrl('./repo:with-colon/x')).toBe(false);
  });

  it('mirrors a file:// URL into the cache and fetches new tags into the existing mirror', async () => {
    const cacheRoot = join(root, 'cache');
    const url = `file://${repo}`;
    expect((await resolveTag(url, 'v1.1.0', { cacheRoot })).commit).toBe(commits.two);
    expect(await listTags(url, { cacheRoot })).toContain('v2.0.0');
    const out = join(root, 'url.tar.gz');
    await exportTag(url, 'v1.0.0', out, { cacheRoot });
    expect(execFileSync('tar', ['-xzOf', out, 'app.txt'], { encoding: 'utf8' })).toBe('version 1\n');

    git('tag', 'v3.0.0', commits.one!);
    // a new process (fresh module state) fetches into the mirror it finds on disk
    vi.resetModules();
    const fresh = await import('../../src/vcs/git.js');
    expect((await fresh.resolveTag(url, 'v3.0.0', { cacheRoot })).commit).toBe(commits.one);
  });

  it('says which URL could not be fetched', async () => {
    await expect(resolveTag(`file://${root}/nope.git`, 'v1', { cacheRoot: join(root, 'cache2') })).rejects.toThrow(
      /cannot fetch git repository file:\/\/.*nope\.git/,
    );
  });
});

describe('nearest', () => {
  it('orders by edit distance, newer first on ties', () => {
    expect(nearest('v1.3', ['v1.0', 'v1.1', 'v2.3', 'x'], 2)).toEqual(['v2.3', 'v1.1']);
  });
});
