// npm run bench:artifact -- [--per-cluster N] [--build-seconds S] [--concurrency N] [--slow-clients N] [--pad SECONDS]
// Issue 33: the same v1 → v2 push under load, once with the build on every host (app.build) and
// once built on this machine and uploaded (artifact:). The build is CPU work of about S seconds
// on one core, standing in for `npm ci && npm run build`. Prints, for each, the stage step's
// seconds, the time to the first step (where building once now happens, while production is
// read), the whole push, and failed requests; then how much shorter the stage became.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { labAppClusters, writeLabConfig } from './lab-config.js';
import {
  labUp,
  LOAD_OPTIONS,
  measurePush,
  PUBLIC_URL,
  quietPush,
  round,
  shapeOf,
  type PushMeasurement,
} from './lab-push.js';

const { values } = parseArgs({ options: { ...LOAD_OPTIONS, 'build-seconds': { type: 'string', default: '3' } } });
const perCluster = Number(values['per-cluster']);
const buildSeconds = Number(values['build-seconds']);
const shape = shapeOf(values);

labUp(perCluster);
const dir = mkdtempSync(join(tmpdir(), 'baton-bench-artifact-'));
// Busy work for one core, then a file only the build makes.
const BUILD =
  `node -e 'const end = Date.now() + ${Math.round(buildSeconds * 1000)}; let x = 0; while (Date.now() < end) ` +
  `x += Math.sqrt(x + 1); console.log(x)' > built.txt`;
const perHost = writeLabConfig(join(dir, 'per-host.yml'), [[['app', 'build'], BUILD]]);
const once = writeLabConfig(join(dir, 'once.yml'), [[['artifact'], { build: BUILD, cache: join(dir, 'cache') }]]);

const lab = Object.keys(labAppClusters());
const v2Commit = await execa('git', ['-C', '/run/baton-lab/repo', 'rev-parse', '--short=7', 'v2^{commit}']);
const v2 = `v2-${v2Commit.stdout.trim()}`;

/** Every host on v1 and without v2 or any kept artifact, the cache empty: each push stages from nothing. */
async function fromV1(config: string): Promise<void> {
  if ((await quietPush('v1', config, ['--force', 'bench:artifact starts every push from v1'])) !== 0)
    throw new Error('could not set the lab to v1');
  await Promise.all(
    lab.map((h) =>
      execa('ssh', [
        '-F',
        '/run/baton-lab/ssh_config',
        h,
        `rm -rf /srv/shop/releases/${v2} /srv/shop/releases/.artifacts`,
      ]),
    ),
  );
  await execa('rm', ['-rf', join(dir, 'cache')]);
}

const figures = (m: PushMeasurement) => ({
  exitCode: m.exitCode,
  stageSeconds: m.stageSeconds ?? null,
  timeToFirstStepSeconds: m.timeToFirstStepSeconds ?? null,
  pushSeconds: m.seconds,
  requests: m.load.requests,
  failed: m.load.failed,
});

await fromV1(perHost);
const before = await measurePush('v2', shape, perHost, PUBLIC_URL);
await fromV1(once);
const after = await measurePush('v2', shape, once, PUBLIC_URL);
await quietPush('v1', perHost, ['--force', 'bench:artifact leaves the lab on v1, built per host']);

console.log(
  JSON.stringify(
    {
      hostsPerCluster: perCluster,
      buildSeconds,
      load: shape,
      perHostBuild: figures(before),
      buildOnce: figures(after),
      stageSecondsSaved:
        before.stageSeconds !== undefined && after.stageSeconds !== undefined
          ? round(before.stageSeconds - after.stageSeconds)
          : null,
    },
    null,
    2,
  ),
);
