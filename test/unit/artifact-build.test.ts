// Build once (issue 33), on the control side: the same tree packs to the same bytes whatever the
// mtimes, umask or order the build left; a tag built twice gives the same SHA-256; the cache is
// found by commit and build command; a rebuild that gives other bytes is refused, naming the files.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, OperationFailedError, PlanRefusedError, UserError } from '../../src/errors.js';
import { manifestDifferences } from '../../src/model/artifact.js';
import { changedArtifact, releaseArchiveFor } from '../../src/release/planned-artifact.js';
import { releaseFor } from '../../src/model/release.js';
import { artifactFor, artifactKey, buildArtifact, type ArtifactSpec } from '../../src/vcs/artifact-build.js';
import { manifestOf, packTree, sha256File, tarArgv } from '../../src/vcs/artifact-pack.js';
import { resolveTag } from '../../src/vcs/git.js';
import { appPaths, stageArtifact } from '../../src/model/host-commands.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Config } from '../../src/config/config.js';

const root = mkdtempSync(join(tmpdir(), 'baton-artifact-'));

function tree(name: string, opts: { mtime?: number; mode?: number; reverse?: boolean } = {}): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'dist', 'js'), { recursive: true });
  const files: [string, string][] = [
    ['package.json', '{"name":"shop"}\n'],
    ['dist/index.html', '<h1>Welcome</h1>\n'],
    ['dist/js/app.js', 'console.log(1)\n'],
    ['README.md', '# shop\n'],
  ];
  for (const [f, text] of opts.reverse ? files.reverse() : files) {
    writeFileSync(join(dir, f), text);
    chmodSync(join(dir, f), opts.mode ?? 0o644);
    if (opts.mtime !== undefined) utimesSync(join(dir, f), opts.mtime, opts.mtime);
  }
  symlinkSync('dist/index.html', join(dir, 'index.html'));
  return dir;
}

describe('packing a built tree', () => {
  it('gives the same bytes for the same tree, whatever mtimes, group-write bits or creation order it has', async () => {
    const one = await packTree(tree('one', { mtime: 1_000_000 }), join(root, 'one.tar.gz'), { compression: 'gzip' });
    const two = await packTree(
      tree('two', { mtime: 2_000_000, mode: 0o664, reverse: true }),
      join(root, 'two.tar.gz'),
      { compression: 'gzip' },
    );
    expect(one.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(two.sha256).toBe(one.sha256);
    expect(await sha256File(join(root, 'one.tar.gz'))).toBe(one.sha256);
    expect(readFileSync(join(root, 'two.tar.gz')).equals(readFileSync(join(root, 'one.tar.gz')))).toBe(true);
    // Names without ./, owners 0:0, mtimes at the epoch.
    const listing = execFileSync('tar', ['-tvzf', join(root, 'one.tar.gz')], { encoding: 'utf8' });
    expect(listing).toMatch(/ 0\/0 .* 1970-01-01 00:00 dist\/js\/app\.js$/m);
    expect(listing).not.toMatch(/\.\//);
  });

  it.skipIf(spawnSync('zstd', ['--version']).status !== 0)(
    'gives the same bytes with zstd too, which the host command unpacks',
    async () => {
      const one = await packTree(tree('z1', { mtime: 1_000_000 }), join(root, 'z1.tar.zst'), { compression: 'zstd' });
      const two = await packTree(tree('z2', { mtime: 3_000_000, reverse: true }), join(root, 'z2.tar.zst'), {
        compression: 'zstd',
      });
      expect(two.sha256).toBe(one.sha256);
      const host = join(root, 'z-host');
      const argv = stageArtifact(appPaths(host), 'v1-abcdef1', {
        sha256: one.sha256,
        compression: 'zstd',
        keep: 3,
        alwaysKeep: [],
        receive: true,
      });
      expect(
        (await new LocalTransport().run(argv, { stdin: readFileSync(join(root, 'z1.tar.zst')) })).stdout.trim(),
      ).toBe('received');
      expect(readFileSync(join(host, 'releases/v1-abcdef1/dist/js/app.js'), 'utf8')).toBe('console.log(1)\n');
    },
  );

  it('gives other bytes when one file changes, and packs only the paths listed', async () => {
    const dir = tree('three');
    const before = await packTree(dir, join(root, 'three-a.tar.gz'), { compression: 'gzip' });
    writeFileSync(join(dir, 'dist/js/app.js'), 'console.log(2)\n');
    const after = await packTree(dir, join(root, 'three-b.tar.gz'), { compression: 'gzip' });
    expect(after.sha256).not.toBe(before.sha256);
    await packTree(dir, join(root, 'three-c.tar.gz'), { compression: 'gzip', paths: ['dist', 'package.json'] });
    const names = execFileSync('tar', ['-tzf', join(root, 'three-c.tar.gz')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(names).toEqual(['dist/', 'dist/index.html', 'dist/js/', 'dist/js/app.js', 'package.json']);
  });

  it(
    'lists each file with its content hash and packed mode, ' + 'and each link with its target, sorted by path',
    async () => {
      const manifest = await manifestOf(tree('four', { mode: 0o775 }));
      expect(manifest.map((e) => e.path)).toEqual([
        'README.md',
        'dist/index.html',
        'dist/js/app.js',
        'index.html',
        'package.json',
      ]);
      expect(manifest.find((e) => e.path === 'index.html')?.content).toBe('-> dist/index.html');
      expect(manifest.find((e) => e.path === 'package.json')?.mode).toBe('755');
      await expect(manifestOf(tree('five'), ['nope'])).rejects.toThrow(
        /artifact\.paths: nope is not in the built tree/,
      );
    },
  );

  it('runs GNU tar with every normalising option, the paths after --', () => {
    expect(tarArgv('/tmp/x y', ['-rf', 'dist'])).toEqual([
      'tar',
      '--create',
      '--file=-',
      '--format=gnu',
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=go-w',
      '--hard-dereference',
      '-C',
      '/tmp/x y',
      '--',
      '-rf',
      'dist',
    ]);
  });
});

describe('building a tag once', () => {
  const repo = join(root, 'app');
  const git = (...args: string[]) =>
    execFileSync(
      'git',
      ['-c', 'user.name=T', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args],
      { cwd: repo, encoding: 'utf8' },
    ).trim();
  const spec = (over: Partial<ArtifactSpec> = {}): ArtifactSpec => ({
    build: 'mkdir -p dist && cat src.txt src.txt > dist/out.txt && echo "$BATON_COMMIT" > dist/commit',
    compression: 'gzip',
    timeout: 60_000,
    cache: join(root, 'cache'),
    keep: 20,
    ...over,
  });

  beforeAll(() => {
    mkdirSync(repo);
    git('init', '-q');
    writeFileSync(join(repo, 'src.txt'), 'hello\n');
    writeFileSync(join(repo, 'stamp.sh'), 'date +%s%N > dist/stamp\n');
    git('add', '.');
    git('commit', '-q', '-m', 'v1');
    git('tag', 'v1');
  });

  it(
    'builds in a clean export of the tag, twice to the same SHA-256, ' +
      'and finds it in the cache by commit and build command',
    async () => {
      const resolved = await resolveTag(repo, 'v1');
      const first = await buildArtifact(repo, resolved, spec({ cache: join(root, 'cache-1') }));
      const second = await buildArtifact(repo, resolved, spec({ cache: join(root, 'cache-2') }));
      expect(second.sha256).toBe(first.sha256);
      expect(first.manifest.map((e) => e.path)).toEqual(['dist/commit', 'dist/out.txt', 'src.txt', 'stamp.sh']);
      const built = await artifactFor(repo, resolved, spec());
      expect(built.cached).toBe(false);
      expect(built.sha256).toBe(first.sha256);
      expect(existsSync(built.file)).toBe(true);
      const again = await artifactFor(repo, resolved, spec());
      expect(again).toMatchObject({ cached: true, sha256: first.sha256, files: 4 });
      // Another build command is another artifact.
      expect(artifactKey(resolved.commit, spec())).not.toBe(artifactKey(resolved.commit, spec({ build: 'true' })));
    },
  );

  it('fails a build that fails, with its output, before anything is sent (exit 1: production unchanged)', async () => {
    const resolved = await resolveTag(repo, 'v1');
    const err = await buildArtifact(repo, resolved, spec({ build: 'echo compiling; echo broken >&2; exit 3' })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as OperationFailedError).exitCode).toBe(ExitCode.FAILED_RESTORED);
    expect((err as Error).message).toMatch(/`echo compiling; echo broken >&2; exit 3` exited 3\n.*compiling\n.*broken/);
  });

  it(
    'refuses an apply whose rebuilt artifact has other bytes than the plan, ' + 'naming the files that differ',
    async () => {
      const cache = join(root, 'cache-stamp');
      const s = spec({ build: 'mkdir -p dist && sh stamp.sh && cp src.txt dist/', cache });
      const resolved = await resolveTag(repo, 'v1');
      const planned = await artifactFor(repo, resolved, s);
      const plan = {
        release: releaseFor('v1', resolved.commit),
        artifact: {
          sha256: planned.sha256,
          bytes: planned.bytes,
          files: planned.files,
          compression: 'gzip' as const,
          build: s.build as string,
        },
      };
      const config = {
        app: { repo, signedTags: false },
        artifact: { ...s, paths: undefined, timeout: 60_000 },
      } as unknown as Config;
      // The same bytes from the cache: accepted as they are.
      expect(await releaseArchiveFor(config, plan, join(root, 'unused.tar.gz'))).toBe(planned.file);
      // On a machine without them (the artifact gone, its key forgotten), the rebuild stamps another time.
      rmSync(planned.file);
      rmSync(join(cache, 'keys'), { recursive: true });
      const err = await releaseArchiveFor(config, plan, join(root, 'unused.tar.gz')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PlanRefusedError);
      expect((err as PlanRefusedError).exitCode).toBe(ExitCode.PLAN_REFUSED);
      expect((err as Error).message).toMatch(
        /the artifact of v1-[0-9a-f]{7} built now is sha256 [0-9a-f]{12}, not [0-9a-f]{12} as planned and approved/,
      );
      expect((err as PlanRefusedError).details).toEqual(['dist/stamp: content differs']);
    },
  );

  it('says so when the planned file list is not on this machine, and when only the packing differs', async () => {
    const release = releaseFor('v1', 'a'.repeat(40));
    const planned = { sha256: 'b'.repeat(64), bytes: 10, files: 3, compression: 'gzip' as const };
    const far = await changedArtifact(join(root, 'empty-cache'), release, planned, {
      sha256: 'c'.repeat(64),
      files: 4,
    });
    expect(far.details[0]).toMatch(
      new RegExp(
        /the planned artifact \(3 files\) is not in this machine's cache .* it was built elsewhere, or /.source +
          /removed; the rebuilt one has 4 files/.source,
      ),
    );
  });

  it('refuses a missing path or an empty tree rather than packing nothing', async () => {
    const resolved = await resolveTag(repo, 'v1');
    await expect(buildArtifact(repo, resolved, spec({ paths: ['build'] }))).rejects.toThrow(UserError);
    await expect(buildArtifact(repo, resolved, spec({ build: 'rm -rf ./* ./.[!.]*' }))).rejects.toThrow(
      /the built tree is empty/,
    );
  });
});

describe('naming what differs between two artifacts', () => {
  it('lists files only in one, changed in content (with sizes) or in mode, sorted by path', () => {
    const e = (path: string, content: string, size = 1, mode = '644') => ({ path, content, size, mode });
    expect(
      manifestDifferences(
        [e('a', 'x'), e('b', 'y', 2), e('c', 'z'), e('d', 'w')],
        [e('a', 'x'), e('b', 'Y', 3), e('c', 'z', 1, '755'), e('e', 'v')],
      ),
    ).toEqual([
      'b: content differs (2 → 3 bytes)',
      'c: mode 644 → 755',
      'd: only in the planned artifact',
      'e: only in the rebuilt artifact',
    ]);
  });
});
