// Staging an artifact built once (issue 33): the host command as a string (values as positional
// parameters, never in the script), then run for real on this machine against a temporary deploy
// root per "host": sent only where it is missing, its hash checked before anything is unpacked,
// kept by hash beside the releases and pruned with them.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BugError, ExternalCommandError } from '../../src/errors.js';
import { appPaths, ARTIFACT_MISSING, stageArtifact } from '../../src/model/host-commands.js';
import type { Step } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { describeSent, stageKind } from '../../src/steps/stage.js';
import type { StepEnv } from '../../src/steps/env.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { RunOptions, RunResult, Transport, Transports } from '../../src/transport/types.js';
import { planConfigFixture } from '../fixtures/observed.js';

const work = mkdtempSync(join(tmpdir(), 'baton-stage-'));

/** A .tar.gz of `files`, and its SHA-256. */
function artifactOf(name: string, files: Record<string, string>): { file: string; sha: string; bytes: Buffer } {
  const src = join(work, `${name}-src`);
  mkdirSync(src, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(src, f), text);
  const file = join(work, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', file, '-C', src, ...Object.keys(files)]);
  const bytes = readFileSync(file);
  return { file, sha: createHash('sha256').update(bytes).digest('hex'), bytes };
}

const SHA = 'f'.repeat(64);

describe('the stage command of an artifact', () => {
  it('passes every value as a positional parameter of a fixed script', () => {
    const argv = stageArtifact(appPaths('/srv/my shop'), 'v2-abcdef1', {
      sha256: SHA,
      compression: 'zstd',
      build: 'make && echo "$(id)"',
      keep: 4,
      alwaysKeep: ['v1-1234567'],
      receive: true,
    });
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual([
      'sh',
      '/srv/my shop',
      'v2-abcdef1',
      SHA,
      'zst',
      'make && echo "$(id)"',
      '4',
      '1',
      'v1-1234567',
    ]);
    for (const v of ['/srv/my shop', 'make &&', SHA]) expect(argv[2]).not.toContain(v);
  });

  it('refuses a release name or a hash that could be a path', () => {
    const opts = { sha256: SHA, compression: 'gzip' as const, keep: 4, alwaysKeep: [], receive: false };
    expect(() => stageArtifact(appPaths('/srv/shop'), '../etc', opts)).toThrow(BugError);
    expect(() => stageArtifact(appPaths('/srv/shop'), 'v2-abcdef1', { ...opts, sha256: '../../x' })).toThrow(BugError);
  });

  it(
    'on a host: asks for the artifact, checks it, ' + 'unpacks it and keeps it by hash; a second stage sends nothing',
    async () => {
      const root = join(work, 'host one');
      const paths = appPaths(root);
      const a = artifactOf('one', { 'server.js': 'v2\n' });
      const local = new LocalTransport();
      const run = (receive: boolean, stdin?: Buffer) =>
        local.run(
          stageArtifact(paths, 'v2-abcdef1', {
            sha256: a.sha,
            compression: 'gzip',
            build: 'echo built > built.txt',
            keep: 4,
            alwaysKeep: [],
            receive,
          }),
          stdin ? { stdin } : {},
        );
      expect((await run(false)).stdout.trim()).toBe(ARTIFACT_MISSING);
      expect(existsSync(root)).toBe(false); // asking changed nothing
      expect((await run(true, a.bytes)).stdout.trim()).toBe('received');
      expect(readFileSync(join(root, 'releases/v2-abcdef1/server.js'), 'utf8')).toBe('v2\n');
      expect(readFileSync(join(root, 'releases/v2-abcdef1/built.txt'), 'utf8')).toBe('built\n');
      expect(readdirSync(join(root, 'releases/.artifacts')).sort()).toEqual([`${a.sha}.tar.gz`, 'v2-abcdef1.sha256']);
      expect((await run(false)).stdout.trim()).toBe('held');
    },
  );

  it('on a host: refuses received bytes whose hash is not the planned one, and leaves nothing of them', async () => {
    const root = join(work, 'host two');
    const a = artifactOf('two', { 'server.js': 'v2\n' });
    const tampered = Buffer.concat([a.bytes, Buffer.from('x')]);
    const err = await new LocalTransport()
      .run(
        stageArtifact(appPaths(root), 'v2-abcdef1', {
          sha256: a.sha,
          compression: 'gzip',
          keep: 4,
          alwaysKeep: [],
          receive: true,
        }),
        { stdin: tampered },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect((err as Error).message).toMatch(
      /the artifact received has sha256 [0-9a-f]{64}, not [0-9a-f]{64} as planned: not unpacked/,
    );
    expect(readdirSync(join(root, 'releases')).filter((n) => n !== '.artifacts')).toEqual([]);
    expect(readdirSync(join(root, 'releases/.artifacts'))).toEqual([]);
  });

  it('on a host: hashes a held artifact again before unpacking, and removes a damaged one', async () => {
    const root = join(work, 'host three');
    const a = artifactOf('three', { 'server.js': 'v3\n' });
    mkdirSync(join(root, 'releases/.artifacts'), { recursive: true });
    writeFileSync(join(root, 'releases/.artifacts', `${a.sha}.tar.gz`), Buffer.concat([a.bytes, Buffer.from('rot')]));
    const err = await new LocalTransport()
      .run(
        stageArtifact(appPaths(root), 'v3-abcdef1', {
          sha256: a.sha,
          compression: 'gzip',
          keep: 4,
          alwaysKeep: [],
          receive: false,
        }),
      )
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /the artifact kept here has sha256 [0-9a-f]{64}, not [0-9a-f]{64}: removed, not unpacked/,
    );
    expect(existsSync(join(root, 'releases/v3-abcdef1'))).toBe(false);
    expect(existsSync(join(root, 'releases/.artifacts', `${a.sha}.tar.gz`))).toBe(false);
  });

  it('on a host: prunes artifacts with the releases unpacked from them, never the running one', async () => {
    const root = join(work, 'host four');
    const paths = appPaths(root);
    const local = new LocalTransport();
    const stage = async (dir: string, name: string) => {
      const a = artifactOf(name, { 'server.js': `${name}\n` });
      await local.run(
        stageArtifact(paths, dir, { sha256: a.sha, compression: 'gzip', keep: 2, alwaysKeep: [], receive: true }),
        { stdin: a.bytes },
      );
      return a.sha;
    };
    const v1 = await stage('v1-1111111', 'p1');
    symlinkSync('releases/v1-1111111', join(root, 'current'));
    await new Promise((r) => setTimeout(r, 1100)); // ls -t has one-second mtimes on some filesystems
    const v2 = await stage('v2-2222222', 'p2');
    await new Promise((r) => setTimeout(r, 1100));
    const v3 = await stage('v3-3333333', 'p3');
    await new Promise((r) => setTimeout(r, 1100));
    const v4 = await stage('v4-4444444', 'p4');
    // keep 2: the new one and the newest other, and current whatever its age.
    expect(readdirSync(join(root, 'releases')).sort()).toEqual([
      '.artifacts',
      'v1-1111111',
      'v3-3333333',
      'v4-4444444',
    ]);
    const kept = readdirSync(join(root, 'releases/.artifacts')).sort();
    expect(kept).toEqual(
      [
        `${v1}.tar.gz`,
        `${v3}.tar.gz`,
        `${v4}.tar.gz`,
        'v1-1111111.sha256',
        'v3-3333333.sha256',
        'v4-4444444.sha256',
      ].sort(),
    );
    expect(kept.join()).not.toContain(v2);
  });
});

/** Every host is this machine, with its own deploy root: `/srv/shop` in a command becomes that host's folder. */
class FolderHosts implements Transports {
  readonly runs: { host: string; receive: boolean; stdinBytes: number }[] = [];
  constructor(private readonly roots: Record<string, string>) {}
  get(host: string): Transport {
    const local = new LocalTransport(host);
    return {
      host,
      run: (argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
        const mapped = argv.map((a) => (a === '/srv/shop' ? (this.roots[host] as string) : a));
        this.runs.push({ host, receive: mapped[10] === '1', stdinBytes: opts.stdin?.length ?? 0 });
        return local.run(mapped, opts);
      },
      upload: async () => undefined,
      download: async () => undefined,
    };
  }
  async closeAll(): Promise<void> {}
}

describe('the stage step of an artifact', () => {
  it('sends the artifact only to hosts that lack it, and says how many bytes went at what rate', async () => {
    const a = artifactOf('fleet', { 'server.js': 'v2\n' });
    const roots = Object.fromEntries(['w1a', 'w2a', 'w1b', 'w2b'].map((h) => [h, join(work, `fleet-${h}`)]));
    // w1a already holds this artifact (a push reversed after staging, say).
    mkdirSync(join(roots.w1a as string, 'releases/.artifacts'), { recursive: true });
    writeFileSync(join(roots.w1a as string, 'releases/.artifacts', `${a.sha}.tar.gz`), a.bytes);
    const release = releaseFor('v2', 'c'.repeat(40));
    const hosts = Object.keys(roots);
    const step: Step = {
      id: 'stage',
      kind: 'stage',
      title: 'stage',
      hosts,
      releases: Object.fromEntries(hosts.map((h) => [h, release.dir])),
      artifact: a.sha,
      undo: [],
    };
    const transports = new FolderHosts(roots);
    const config = planConfigFixture({
      ssh: { concurrency: 2 },
      artifact: { compression: 'gzip' },
      app: { name: 'shop', keep: 5, path: '/srv/shop', buildTimeout: 60_000 },
    });
    const lines: string[] = [];
    const env = { config, transports, release, artifact: a.file, wayBack: {} } as unknown as StepEnv & {
      wayBack: Record<string, string[]>;
    };
    const result = (await stageKind.run(step, env, (l) => lines.push(l))) as {
      sent: string[];
      held: string[];
      sentBytes: number;
    };
    expect(result.held).toEqual(['w1a']);
    expect(result.sent).toEqual(['w1b', 'w2a', 'w2b']);
    expect(result.sentBytes).toBe(3 * a.bytes.length);
    expect(
      transports.runs
        .filter((r) => r.stdinBytes > 0)
        .map((r) => r.host)
        .sort(),
    ).toEqual(['w1b', 'w2a', 'w2b']);
    for (const root of Object.values(roots))
      expect(readFileSync(join(root, 'releases', release.dir, 'server.js'), 'utf8')).toBe('v2\n');
    expect(lines.at(-1)).toMatch(/^4\/4 hosts staged: sent 0\.0 MB to 3 hosts at [\d.]+ MB\/s, 1 held it already$/);
  });

  it('describes what was sent', () => {
    expect(describeSent(0, 0, 100)).toBe('sent nothing');
    expect(describeSent(48_200_000, 3, 2000)).toBe('sent 48.2 MB to 3 hosts at 24.1 MB/s');
  });
});
