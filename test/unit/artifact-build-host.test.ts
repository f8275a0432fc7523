// Building once on a build host (artifact.host): the commands as strings, then the whole trip run
// for real through the local transport standing in for SSH (the same Transport interface): the tag
// sent, built there, the tree brought back and packed here to the same SHA-256 as a build here; a
// failing build names the host and its last lines; the work folder is removed either way.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BugError, ExitCode, OperationFailedError, UserError } from '../../src/errors.js';
import {
  buildInDir,
  makeBuildDir,
  packForTrip,
  parseBuildDir,
  removeBuildDir,
} from '../../src/model/build-host-commands.js';
import { buildHostBuilder } from '../../src/release/build-host.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transports } from '../../src/transport/types.js';
import { artifactFor, artifactKey, buildArtifact, type ArtifactSpec } from '../../src/vcs/artifact-build.js';
import { resolveTag } from '../../src/vcs/git.js';

const root = mkdtempSync(join(tmpdir(), 'baton-build-host-'));
// The build host's $TMPDIR, where its work folders are made: empty again after every build.
const hostTmp = join(root, 'host-tmp');
const repo = join(root, 'app');
const savedTmp = process.env.TMPDIR;

/** The "build host": commands run here, through the same interface SSH implements; it remembers who was asked. */
function buildHost(): Transports & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    get: (host: string) => {
      asked.push(host);
      return new LocalTransport(host);
    },
    closeAll: async () => undefined,
  };
}

const spec = (over: Partial<ArtifactSpec> = {}): ArtifactSpec => ({
  build: 'mkdir -p dist && cat src.txt src.txt > dist/out.txt && ln -s out.txt dist/link && echo "$BATON_COMMIT" > c',
  compression: 'gzip',
  timeout: 60_000,
  cache: join(root, 'cache'),
  keep: 20,
  ...over,
});

beforeAll(() => {
  mkdirSync(hostTmp);
  mkdirSync(repo);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', ...args], { cwd: repo });
  git('init', '-q');
  writeFileSync(join(repo, 'src.txt'), 'hello\n');
  git('add', '.');
  git('commit', '-q', '-m', 'v1');
  git('tag', 'v1');
  process.env.TMPDIR = hostTmp;
});

afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(root, { recursive: true, force: true });
});

describe('the build host commands', () => {
  it('pass every value as a positional parameter, and touch only a folder mktemp made', () => {
    expect(makeBuildDir()).toEqual(['sh', '-c', 'mktemp -d "${TMPDIR:-/tmp}/baton-build.XXXXXXXX"']);
    expect(parseBuildDir('/tmp/baton-build.Ab12Cd34\n')).toBe('/tmp/baton-build.Ab12Cd34');
    expect(parseBuildDir('mktemp: failed\n')).toBeUndefined();
    const dir = '/tmp/baton-build.Ab12Cd34';
    expect(buildInDir(dir, 'npm ci; rm -rf "$x"', 'a'.repeat(40)).slice(3)).toEqual([
      'sh',
      dir,
      'npm ci; rm -rf "$x"',
      'a'.repeat(40),
    ]);
    expect(packForTrip(dir, ['dist', 'package.json']).slice(3)).toEqual(['sh', dir, 'dist', 'package.json']);
    expect(removeBuildDir(dir)).toEqual(['rm', '-rf', '--', dir]);
    expect(() => removeBuildDir('/')).toThrow(BugError);
    expect(() => buildInDir('/srv/shop', 'true', 'a')).toThrow(BugError);
  });
});

describe('building on a build host', () => {
  it(
    'sends the tag there, builds it as the SSH user, brings the tree back and packs it here: ' +
      'the same SHA-256 as a build on this machine',
    async () => {
      const resolved = await resolveTag(repo, 'v1');
      const here = await buildArtifact(repo, resolved, spec({ cache: join(root, 'cache-here') }));
      const transports = buildHost();
      const there = await buildArtifact(repo, resolved, spec({ host: 'build-1', cache: join(root, 'cache-there') }), {
        builder: buildHostBuilder(transports, 'build-1'),
      });
      expect(transports.asked.every((h) => h === 'build-1')).toBe(true);
      expect(transports.asked.length).toBeGreaterThan(0);
      expect(there.sha256).toBe(here.sha256);
      expect(there.manifest).toEqual(here.manifest);
      expect(there.unpackedBytes).toBe(here.unpackedBytes);
      expect(there.unpackedBytes).toBe(here.manifest.reduce((n, e) => n + e.size, 0));
      expect(readdirSync(hostTmp)).toEqual([]);
    },
  );

  it('brings back only artifact.paths, and packs the same bytes as a build here of those paths', async () => {
    const resolved = await resolveTag(repo, 'v1');
    const paths = ['dist'];
    const here = await buildArtifact(repo, resolved, spec({ paths, cache: join(root, 'cache-p-here') }));
    const there = await buildArtifact(repo, resolved, spec({ paths, host: 'b', cache: join(root, 'cache-p') }), {
      builder: buildHostBuilder(buildHost(), 'b'),
    });
    expect(there.manifest.map((e) => e.path)).toEqual(['dist/link', 'dist/out.txt']);
    expect(there.sha256).toBe(here.sha256);
    const missing = await buildArtifact(repo, resolved, spec({ paths: ['build'], host: 'b' }), {
      builder: buildHostBuilder(buildHost(), 'b'),
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UserError);
    expect((missing as Error).message).toBe('artifact.paths: build is not in the tree built on b');
    expect(readdirSync(hostTmp)).toEqual([]);
  });

  it('keeps a build host in the cache key, and finds the artifact built there again', async () => {
    const resolved = await resolveTag(repo, 'v1');
    expect(artifactKey(resolved.commit, spec({ host: 'build-1' }))).not.toBe(artifactKey(resolved.commit, spec()));
    const s = spec({ host: 'build-1', cache: join(root, 'cache-key') });
    const transports = buildHost();
    const lines: string[] = [];
    const first = await artifactFor(repo, resolved, s, {
      builder: buildHostBuilder(transports, 'build-1'),
      progress: (l) => lines.push(l),
    });
    expect(lines).toEqual([`building v1 (${resolved.shortCommit}) once on build-1: ${s.build}`]);
    const asked = transports.asked.length;
    const again = await artifactFor(repo, resolved, s, { builder: buildHostBuilder(transports, 'build-1') });
    expect(again).toMatchObject({ cached: true, sha256: first.sha256, unpackedBytes: first.unpackedBytes });
    expect(transports.asked.length).toBe(asked);
  });

  it(
    'fails a build that fails there naming the host, with the last lines of its output ' +
      '(exit 1, nothing sent), and removes its work folder',
    async () => {
      const resolved = await resolveTag(repo, 'v1');
      const build = 'for i in $(seq 1 30); do echo "line $i"; done; echo "error: no compiler" >&2; exit 7';
      const err = await buildArtifact(repo, resolved, spec({ build, host: 'build-1' }), {
        builder: buildHostBuilder(buildHost(), 'build-1'),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OperationFailedError);
      expect((err as OperationFailedError).exitCode).toBe(ExitCode.FAILED_RESTORED);
      const message = (err as Error).message;
      expect(message).toContain(`building v1 (${resolved.shortCommit}) on build-1 failed: \`${build}\` exited 7\n`);
      expect(message).toMatch(/ {4}line 30\n {4}error: no compiler$/);
      expect(message).not.toContain('line 11\n');
      expect(message).toContain('line 12\n');
      expect(readdirSync(hostTmp)).toEqual([]);
    },
  );

  it('stops a build that outlasts artifact.timeout, saying so', async () => {
    const resolved = await resolveTag(repo, 'v1');
    const err = await buildArtifact(repo, resolved, spec({ build: 'echo started; sleep 5', host: 'h', timeout: 500 }), {
      builder: buildHostBuilder(buildHost(), 'h'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toMatch(/on h failed: `echo started; sleep 5` did not finish within 1 s/);
    expect((err as Error).message).toContain('    started');
    expect(readdirSync(hostTmp)).toEqual([]);
  });
});
