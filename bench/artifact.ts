// npm run bench:artifact -- [--per-cluster N] [--runs N] [--where here|host] [--concurrency N]
//   [--slow-clients N] [--pad SECONDS]
// Issue 33: the lab's v1 → v10-build push under load, whose build is real (esbuild bundles and
// minifies the vendored TypeScript compiler: ~1.5 s of CPU, ~21 MB out; test/lab/app/build.sh),
// once built on every host (app.build) and once built once (artifact:, here or with --where host
// on the lab's build host new-web) and uploaded; each run starts from v1 with no host holding
// v10-build and the cache empty. After the build-once push, `baton rollback` (back to v1) and a
// push of v10-build again, both of which must send nothing. Prints, per way, medians over --runs:
// - pushSeconds, timeToFirstStepSeconds (an artifact is built then), stageSeconds (the journal's stage
//   step), failed requests (clients that never retry);
// - sentBytes: with the artifact, what the stage step's journal record says it sent; per host,
//   the tag's `git archive` (tar.gz, what the plain stage uploads) times the hosts, computed here;
// - buildCpuSeconds: user + system CPU of the build command and its children (the shell's
//   `times` after it, appended to /tmp/baton-bench-build-cpu where it ran), summed over the app
//   hosts (`onHosts`) and wherever the artifact was built (`buildMachine`). It counts the build
//   alone, not the upload, unpacking or restart, which both ways do alike.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { labAppClusters, writeLabConfig } from './lab-config.js';
import {
  journalPhases,
  labUp,
  LOAD_OPTIONS,
  measurePush,
  PUBLIC_URL,
  quietPush,
  ROOT,
  round,
  shapeOf,
  underLoad,
  type PushMeasurement,
} from './lab-push.js';

const { values } = parseArgs({
  options: {
    ...LOAD_OPTIONS,
    runs: { type: 'string', default: '1' },
    where: { type: 'string', default: 'here' },
  },
});
if (values.where !== 'here' && values.where !== 'host')
  throw new Error(`--where ${values.where}: expected here or host`);
const perCluster = Number(values['per-cluster']);
const runs = Number(values.runs);
const shape = shapeOf(values);
const TAG = 'v10-build';
const BUILD_HOST = 'new-web.baton.test';
const SSH_CONFIG = '/run/baton-lab/ssh_config';
const CPU_FILE = '/tmp/baton-bench-build-cpu';

labUp(perCluster);
const dir = mkdtempSync(join(tmpdir(), 'baton-bench-artifact-'));
const cache = join(dir, 'cache');
const apps = Object.keys(labAppClusters());
// The build: build.sh with esbuild on PATH (on the hosts in /srv/shop/bin, here the checkout's
// node_modules/.bin, put on the PATH baton inherits), then the shell's CPU times of its children.
process.env.PATH = `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`;
const BUILD = `PATH=/srv/shop/bin:$PATH sh build.sh && times >> ${CPU_FILE}`;
const plain = writeLabConfig(join(dir, 'plain.yml'));
const perHost = writeLabConfig(join(dir, 'per-host.yml'), [[['app', 'build'], BUILD]]);
const once = writeLabConfig(join(dir, 'once.yml'), [
  [
    ['artifact'],
    {
      build: BUILD,
      paths: ['dist', 'server.js', 'package.json', 'release.json'],
      cache,
      ...(values.where === 'host' ? { host: BUILD_HOST } : {}),
    },
  ],
]);

const ssh = (host: string, command: string, input?: string) =>
  execa('ssh', ['-F', SSH_CONFIG, host, command], input === undefined ? {} : { inputFile: input });

// The hosts' build toolchain, as a fleet would have it installed: the checkout's esbuild binary.
const esbuild = realpathSync(join(ROOT, 'node_modules/.bin/esbuild'));
await Promise.all(
  [...apps, BUILD_HOST].map((h) =>
    ssh(h, 'cd /srv/shop/bin && cat > esbuild.new && chmod 755 esbuild.new && mv esbuild.new esbuild', esbuild),
  ),
);
const commit = execFileSync('git', ['-C', '/run/baton-lab/repo', 'rev-parse', `${TAG}^{commit}`], {
  encoding: 'utf8',
}).trim();
const release = `${TAG}-${commit.slice(0, 7)}`;
// What the plain stage uploads to each host: the tag's git archive (tar.gz), as baton makes it.
const archiveBytes = execFileSync('git', ['-C', '/run/baton-lab/repo', 'archive', '--format=tar.gz', commit], {
  maxBuffer: 1 << 30,
}).length;

/** Every host on v1, none holding v10-build or a kept artifact, no CPU readings, the cache empty. */
async function fromV1(): Promise<void> {
  if ((await quietPush('v1', plain, ['--force', 'bench:artifact starts every push from v1'])) !== 0)
    throw new Error('could not set the lab to v1');
  await Promise.all(
    [...apps, BUILD_HOST].map((h) => ssh(h, `rm -rf /srv/shop/releases/${release} /srv/shop/releases/.artifacts`)),
  );
  rmSync(cache, { recursive: true, force: true });
  await clearCpuReadings();
}

/** No build's CPU reading left on any host, the build host or here. */
async function clearCpuReadings(): Promise<void> {
  await Promise.all([...apps, BUILD_HOST].map((h) => ssh(h, `rm -f ${CPU_FILE}`)));
  rmSync(CPU_FILE, { force: true });
}

/** CPU seconds of the builds `times` recorded in `text`: each reading's second line (children's user and system). */
function cpuSecondsOf(text: string): number {
  const lines = text.trim().split('\n');
  let sum = 0;
  for (let i = 1; i < lines.length; i += 2)
    for (const m of (lines[i] ?? '').matchAll(/(\d+)m([\d.]+)s/g)) sum += Number(m[1]) * 60 + Number(m[2]);
  return sum;
}

async function cpuOn(host: string): Promise<number> {
  return cpuSecondsOf((await ssh(host, `cat ${CPU_FILE} 2>/dev/null || true`)).stdout);
}

async function buildCpu(): Promise<{ onHosts: number; buildMachine: number }> {
  const onHosts = (await Promise.all(apps.map(cpuOn))).reduce((a, b) => a + b, 0);
  const buildMachine = values.where === 'host' ? await cpuOn(BUILD_HOST) : cpuSecondsOf(readFileIfThere(CPU_FILE));
  return { onHosts: round(onHosts), buildMachine: round(buildMachine) };
}

function readFileIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const figures = (m: PushMeasurement, sentBytes: number | null, cpu: { onHosts: number; buildMachine: number }) => ({
  exitCode: m.exitCode,
  ...(m.error !== undefined ? { error: m.error } : {}),
  pushSeconds: m.seconds,
  // Where building once happens (before the first step, while production is only read).
  timeToFirstStepSeconds: m.timeToFirstStepSeconds ?? null,
  stageSeconds: m.stageSeconds ?? null,
  sentBytes,
  buildCpuSeconds: cpu,
  requests: m.load.requests,
  failed: m.load.failed,
});
type Figures = ReturnType<typeof figures>;

/** `baton rollback` under load: its seconds, failed requests and what its stage sent (it has none: 0). */
async function measureRollback() {
  const r = await underLoad(
    ['node', `${ROOT}/bin/run.js`, 'rollback', '--yes', '--json', '-c', once],
    shape,
    once,
    PUBLIC_URL,
  );
  let journal: string | undefined;
  try {
    const json = JSON.parse(r.stdout) as { journal?: string; error?: { result?: { journal?: string } } };
    journal = json.journal ?? json.error?.result?.journal;
  } catch {
    // no JSON: the exit code says it failed
  }
  const phases = journal ? journalPhases(journal, r.startedAt) : undefined;
  return {
    exitCode: r.exitCode,
    seconds: r.seconds,
    stageSeconds: phases?.stageSeconds ?? null,
    sentBytes: phases?.stageSentBytes ?? 0,
    requests: r.load.requests,
    failed: r.load.failed,
  };
}

const perHostRuns: Figures[] = [];
const onceRuns: Figures[] = [];
const rollbacks: Awaited<ReturnType<typeof measureRollback>>[] = [];
const redeploys: Figures[] = [];
for (let i = 0; i < runs; i++) {
  await fromV1();
  const p = await measurePush(TAG, shape, perHost, PUBLIC_URL);
  perHostRuns.push(figures(p, archiveBytes * apps.length, await buildCpu()));
  await fromV1();
  const o = await measurePush(TAG, shape, once, PUBLIC_URL);
  onceRuns.push(figures(o, o.stageSentBytes ?? null, await buildCpu()));
  // Back to v1, then v10-build again: every host still holds its artifact, the cache too.
  rollbacks.push(await measureRollback());
  await clearCpuReadings();
  const again = await measurePush(TAG, shape, once, PUBLIC_URL);
  redeploys.push(figures(again, again.stageSentBytes ?? null, await buildCpu()));
}
await quietPush('v1', plain, ['--force', 'bench:artifact leaves the lab on v1']);
rmSync(dir, { recursive: true, force: true });

/** The run with the median push seconds (every figure of one run, so they agree), and every run's failed requests. */
function median<T extends { pushSeconds?: number; seconds?: number; failed: number }>(
  xs: T[],
): T & { runs: number[]; failedPerRun: number[] } {
  const key = (x: T) => x.pushSeconds ?? x.seconds ?? 0;
  const sorted = [...xs].sort((a, b) => key(a) - key(b));
  return {
    ...(sorted[Math.floor((sorted.length - 1) / 2)] as T),
    runs: xs.map(key),
    failedPerRun: xs.map((x) => x.failed),
  };
}

const before = median(perHostRuns);
const after = median(onceRuns);
console.log(
  JSON.stringify(
    {
      hostsPerCluster: perCluster,
      hosts: apps.length,
      tag: TAG,
      builtOnce: values.where === 'host' ? BUILD_HOST : 'this machine',
      runs,
      load: shape,
      perHostBuild: before,
      buildOnce: after,
      rollbackToV1: median(rollbacks),
      pushAgainWithArtifactsKept: median(redeploys),
      stageSecondsSaved:
        before.stageSeconds !== null && after.stageSeconds !== null
          ? round(before.stageSeconds - after.stageSeconds)
          : null,
    },
    null,
    2,
  ),
);
