// Issue 33 against the lab: a release built once on the control machine (artifact: in baton.yml)
// reaches every host as the same bytes, its SHA-256 checked on each; a push of a release some
// hosts already hold sends it only to the others; a plan whose artifact a rebuild no longer gives
// is refused by apply (exit 3), naming the files that differ, with production untouched. Built on
// a build host (artifact.host, one of the lab's hosts) it is the same bytes as built here, and a
// build that fails there names the host and its last lines, with production untouched.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { startLoad } from '../lab/load.js';
import { appHostNames, currentReleases, onHost, readyAllHaproxyMembers } from './helpers/lab.js';

const LOCK = `/run/baton/artifact-test-${process.pid}/lock`;
const ROOT = '/srv/shop/releases';
let dir: string;
let cache: string;
let builds: string;
let config: string;
let hostBuilds: string;

// The lab host artifact.host names: reached as deploy over SSH like the app hosts; its /tmp is its own.
const BUILD_HOST = 'new-web.baton.test';
const REMOTE_LOG = '/tmp/baton-artifact-test-builds.log';
// The same build wherever it runs; it logs the commit, the machine and the user to $HOST_BUILDS here (baton's own
// environment), and to REMOTE_LOG on the build host, where that variable is not set.
const PORTABLE_BUILD =
  `echo "$BATON_COMMIT $(hostname) $(id -un)" >> "\${HOST_BUILDS:-${REMOTE_LOG}}" && node --check server.js && ` +
  'mkdir -p dist && cp release.json dist/built.json';

// Leaves a line per build (the commit built) on the control machine, then makes something only a build makes.
const BUILD =
  'echo "$BATON_COMMIT" >> "$BUILDS" && node --check server.js && mkdir -p dist && cp release.json dist/built.json';

function baton(file: string, ...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', file], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'artifact-test', BUILDS: builds, HOST_BUILDS: hostBuilds },
  });
}

function labConfig(name: string, artifact: Record<string, unknown>): string {
  return writeLabConfig(join(dir, `${name}.yml`), [
    [['lock', 'path'], LOCK],
    [['artifact'], artifact],
  ]);
}

/** The commits built so far on this machine, one per build. */
const built = () => readFileSync(builds, 'utf8').split('\n').filter(Boolean);

/** The artifacts in a cache, by SHA-256 (their file names). */
function cachedSha(cacheDir = cache): string[] {
  return readdirSync(cacheDir)
    .filter((n) => /^[0-9a-f]{64}\.tar\.gz$/.test(n))
    .map((n) => n.slice(0, 64));
}

/** What the stage step of a run's journal says it did. */
function staged(journal: string): { artifact: string; sent: string[]; held: string[]; sentBytes: number } {
  const ok = readJournal(journal).find((e) => e.event === 'step-ok' && e.step === 'stage') as
    { changed: { artifact: string; sent: string[]; held: string[]; sentBytes: number } } | undefined;
  if (!ok) throw new Error(`no stage step in ${journal}`);
  return ok.changed;
}

async function tagDir(tag: string): Promise<string> {
  const commit = (await execa('git', ['-C', '/run/baton-lab/repo', 'rev-parse', `${tag}^{commit}`])).stdout.trim();
  return `${tag}-${commit.slice(0, 7)}`;
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  dir = mkdtempSync(join(tmpdir(), 'baton-artifact-'));
  cache = join(dir, 'cache');
  builds = join(dir, 'builds.log');
  hostBuilds = join(dir, 'host-builds.log');
  config = labConfig('baton', { build: BUILD, cache });
  // Every host on v1, none holding v2 or any artifact: the first push must send v2 to all.
  const r = await baton(config, 'push', 'v1');
  expect(r.exitCode, r.stderr).toBe(0);
  const v2 = await tagDir('v2');
  for (const h of appHostNames()) await onHost(h, `rm -rf ${ROOT}/${v2} ${ROOT}/.artifacts`);
  readyAllHaproxyMembers();
});

afterAll(async () => {
  await baton(config, 'unlock', '--force', '--reason', 'artifact test clean-up', '--yes');
  await onHost(BUILD_HOST, `rm -rf ${REMOTE_LOG} /tmp/baton-build.*`);
  // Back on v1, built on each host as the other lab files expect.
  await baton(
    writeLabConfig(join(dir, 'plain.yml'), [[['lock', 'path'], LOCK]]),
    'push',
    'v1',
    '--force',
    'artifact test puts the lab back on per-host releases',
  );
  rmSync(dir, { recursive: true, force: true });
});

describe('a release built once on the control machine', () => {
  it(
    'is built once and reaches every host as the same bytes, its hash checked on each, ' +
      'under load with no failed request',
    async () => {
      const v2 = await tagDir('v2');
      const v2Commit = (await execa('git', ['-C', '/run/baton-lab/repo', 'rev-parse', 'v2^{commit}'])).stdout.trim();
      const before = built().filter((c) => c === v2Commit).length;
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 120, concurrency: 4 });
      const r = await baton(config, 'push', 'v2', '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(0);
      expect(report.failed, JSON.stringify(report.failures)).toBe(0);

      // Built once for four hosts, on this machine.
      expect(built().filter((c) => c === v2Commit).length - before).toBe(1);
      const result = JSON.parse(r.stdout) as { journal: string };
      const stage = staged(result.journal);
      expect(stage.sent.sort()).toEqual([...appHostNames()].sort());
      expect(stage.held).toEqual([]);
      expect(cachedSha()).toContain(stage.artifact);

      for (const h of appHostNames()) {
        // The host kept the artifact under its hash, and sha256sum agrees; the release says which one it was unpacked
        // from.
        expect(await onHost(h, `sha256sum ${ROOT}/.artifacts/${stage.artifact}.tar.gz | cut -d' ' -f1`)).toBe(
          stage.artifact,
        );
        expect(await onHost(h, `cat ${ROOT}/.artifacts/${v2}.sha256`)).toBe(stage.artifact);
        // What only the build on the control machine makes is there.
        expect(JSON.parse(await onHost(h, `cat ${ROOT}/${v2}/dist/built.json`))).toMatchObject({ version: 'v2' });
      }
      // Identical trees everywhere: one digest of every file's path, mode and content.
      const digest =
        `cd ${ROOT}/${v2} && find . -type f -printf '%p %m\\n' | sort | while read -r f m; ` +
        `do echo "$m $(sha256sum "$f")"; done | sha256sum`;
      const digests = await Promise.all(appHostNames().map((h) => onHost(h, digest)));
      expect(new Set(digests).size).toBe(1);
      expect(Object.values(await currentReleases())).toEqual(Array(appHostNames().length).fill(v2));
    },
  );

  it(
    'is sent, on the next push, only to the hosts that lack it; ' +
      'a rollback to a release a host keeps sends nothing',
    async () => {
      const [v1, v2] = [await tagDir('v1'), await tagDir('v2')];
      // Roll back to v1 (kept on every host): a switch, no stage, nothing sent.
      const back = await baton(config, 'rollback', '--yes', '--json');
      expect(back.exitCode, back.stderr).toBe(0);
      expect(
        readJournal((JSON.parse(back.stdout) as { journal: string }).journal).some(
          (e) => e.event === 'step-begin' && e.kind === 'stage',
        ),
      ).toBe(false);
      expect(Object.values(await currentReleases())).toEqual(Array(appHostNames().length).fill(v1));

      // Two hosts lose v2 and its artifact (rebuilt from bare metal, say); the other two still keep it.
      const [lost1, , lost2] = appHostNames();
      for (const h of [lost1, lost2] as string[]) await onHost(h, `rm -rf ${ROOT}/${v2} ${ROOT}/.artifacts`);
      const buildsBefore = built().length;
      const r = await baton(config, 'push', 'v2', '--json');
      expect(r.exitCode, r.stderr).toBe(0);
      const stage = staged((JSON.parse(r.stdout) as { journal: string }).journal);
      expect(stage.sent.sort()).toEqual([lost1, lost2].sort());
      expect(stage.held.sort()).toEqual(
        appHostNames()
          .filter((h) => h !== lost1 && h !== lost2)
          .sort(),
      );
      // The same bytes again, from the cache: nothing was built.
      expect(built().length).toBe(buildsBefore);
      for (const h of appHostNames())
        expect(await onHost(h, `cat ${ROOT}/.artifacts/${v2}.sha256`)).toBe(stage.artifact);
    },
  );
});

describe('a plan whose artifact a rebuild no longer gives', () => {
  it(
    'is refused by apply (exit 3), naming the files that differ; ' + 'nothing is sent and production is untouched',
    async () => {
      const stampCache = join(dir, 'stamp-cache');
      // A build that is not reproducible: it writes the time.
      const stamped = labConfig('stamped', {
        build: 'mkdir -p dist && date +%s%N > dist/stamp && cp release.json dist/',
        cache: stampCache,
      });
      const plan = join(dir, 'v1-plan.json');
      const made = await baton(stamped, 'plan', 'v1', '-o', plan);
      expect(made.exitCode, made.stderr).toBe(0);
      const planned = JSON.parse(readFileSync(plan, 'utf8')) as { artifact: { sha256: string } };
      expect(planned.artifact.sha256).toMatch(/^[0-9a-f]{64}$/);
      // Applied where the planned bytes are not (another machine, or a cleared cache): baton builds again.
      rmSync(join(stampCache, `${planned.artifact.sha256}.tar.gz`));
      rmSync(join(stampCache, 'keys'), { recursive: true });
      const before = await currentReleases();
      const heldBefore = await Promise.all(
        appHostNames().map((h) => onHost(h, `ls ${ROOT}/.artifacts 2>/dev/null | sort`)),
      );

      const r = await baton(stamped, 'apply', plan);
      expect(r.exitCode, r.stdout + r.stderr).toBe(3);
      expect(r.stderr).toMatch(
        /the artifact of v1-[0-9a-f]{7} built now is sha256 [0-9a-f]{12}, not [0-9a-f]{12} as planned and approved/,
      );
      expect(r.stderr).toContain('dist/stamp: content differs');
      expect(r.stderr).not.toContain('dist/release.json');
      expect(await currentReleases()).toEqual(before);
      expect(
        await Promise.all(appHostNames().map((h) => onHost(h, `ls ${ROOT}/.artifacts 2>/dev/null | sort`))),
      ).toEqual(heldBefore);
      const status = JSON.parse((await baton(stamped, 'status', '--json')).stdout) as { lock: unknown };
      expect(status.lock).toEqual({ state: 'free' });
    },
  );
});

describe('a release built on a build host (artifact.host)', () => {
  const records = (tagDirName: string) =>
    Promise.all(
      appHostNames().map((h) => onHost(h, `cat ${ROOT}/.artifacts/${tagDirName}.sha256 2>/dev/null || true`)),
    );
  const remoteBuilds = async () => (await onHost(BUILD_HOST, `cat ${REMOTE_LOG} 2>/dev/null || true`)).split('\n');

  it(
    'is built there as the deploy user, the same bytes as built here, and deployed under load with no failed ' +
      'request; hosts holding the bytes built here are sent nothing',
    async () => {
      const [v1, v2] = [await tagDir('v1'), await tagDir('v2')];
      const v1Commit = (await execa('git', ['-C', '/run/baton-lab/repo', 'rev-parse', 'v1^{commit}'])).stdout.trim();
      const here = labConfig('here', { build: PORTABLE_BUILD, cache: join(dir, 'cache-here') });
      const there = labConfig('there', { build: PORTABLE_BUILD, host: BUILD_HOST, cache: join(dir, 'cache-there') });
      const planHere = join(dir, 'v1-here.json');
      const made = await baton(here, 'plan', 'v1', '-o', planHere);
      expect(made.exitCode, made.stderr).toBe(0);
      const builtHere = (JSON.parse(readFileSync(planHere, 'utf8')) as { artifact: { sha256: string } }).artifact;
      expect(readFileSync(hostBuilds, 'utf8').trim().split('\n')).toHaveLength(1);

      // v1 as the build host builds it; the hosts that do not hold v1 unpacked from those bytes receive them.
      const v1Records = await records(v1);
      const lacking = appHostNames().filter((_, i) => v1Records[i] !== builtHere.sha256);
      const load = startLoad({ url: 'http://10.213.7.2/', seconds: 120, concurrency: 4 });
      const r = await baton(there, 'push', 'v1', '--json');
      const report = await load.stop();
      expect(r.exitCode, r.stderr).toBe(0);
      expect(report.failed, JSON.stringify(report.failures)).toBe(0);
      // Built on the build host, as deploy, once; not here; its work folder gone.
      expect(await remoteBuilds()).toEqual([`${v1Commit} ${BUILD_HOST} deploy`]);
      expect(readFileSync(hostBuilds, 'utf8').trim().split('\n')).toHaveLength(1);
      expect(await onHost(BUILD_HOST, 'ls -d /tmp/baton-build.* 2>/dev/null || true')).toBe('');
      const stage = staged((JSON.parse(r.stdout) as { journal: string }).journal);
      expect(stage.artifact).toBe(builtHere.sha256);
      expect(stage.sent.sort()).toEqual(lacking.sort());
      expect(Object.values(await currentReleases())).toEqual(Array(appHostNames().length).fill(v1));
      expect(await records(v1)).toEqual(Array(appHostNames().length).fill(builtHere.sha256));

      // v2 (the way back now) was unpacked everywhere from an artifact built here: built again on the build host it
      // is those bytes, so no host is sent anything.
      const v2Records = await records(v2);
      expect(new Set(v2Records).size).toBe(1);
      const back = await baton(there, 'push', 'v2', '--json');
      expect(back.exitCode, back.stderr).toBe(0);
      const again = staged((JSON.parse(back.stdout) as { journal: string }).journal);
      expect(again.artifact).toBe(v2Records[0]);
      expect(again).toMatchObject({ sent: [], sentBytes: 0 });
      expect(again.held.sort()).toEqual([...appHostNames()].sort());
      expect(await remoteBuilds()).toHaveLength(2);

      // The plan says where it was built; made again, it takes the artifact from the cache, building nothing.
      const planThere = join(dir, 'v1-there.json');
      expect((await baton(there, 'plan', 'v1', '-o', planThere)).exitCode).toBe(0);
      expect(JSON.parse(readFileSync(planThere, 'utf8'))).toMatchObject({
        artifact: { sha256: builtHere.sha256, host: BUILD_HOST, build: PORTABLE_BUILD },
      });
      expect(await remoteBuilds()).toHaveLength(2);
    },
  );

  it(
    'that fails there ends the push (exit 1) naming the host and the last lines of the build, ' +
      'with nothing sent and production untouched',
    async () => {
      const failing = labConfig('fails-there', {
        build: 'echo "compiling on $(hostname)"; echo "error: the build host says no" >&2; exit 9',
        host: BUILD_HOST,
        cache: join(dir, 'cache-fails'),
      });
      const before = await currentReleases();
      const heldBefore = await Promise.all(
        appHostNames().map((h) => onHost(h, `ls ${ROOT}/.artifacts 2>/dev/null | sort`)),
      );
      const r = await baton(failing, 'push', 'v1');
      expect(r.exitCode, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/building v1 \([0-9a-f]+\) on new-web\.baton\.test failed: `.*` exited 9\n/);
      expect(r.stderr).toContain(`    compiling on ${BUILD_HOST}\n    error: the build host says no`);
      expect(await currentReleases()).toEqual(before);
      expect(
        await Promise.all(appHostNames().map((h) => onHost(h, `ls ${ROOT}/.artifacts 2>/dev/null | sort`))),
      ).toEqual(heldBefore);
      expect(await onHost(BUILD_HOST, 'ls -d /tmp/baton-build.* 2>/dev/null || true')).toBe('');
      const status = JSON.parse((await baton(failing, 'status', '--json')).stdout) as { lock: unknown };
      expect(status.lock).toEqual({ state: 'free' });
    },
  );
});
