// npm run bench:first-step -- [--runs N] [--per-cluster N] [--ssh-concurrency N]
// How long a push takes before its first step, with no load on the lab: pushes v2 and v1 in turn
// and prints, per run and as medians, the wall time, the time from the command's start to the
// journal's first step (start-up, config, tag, SSH, observation, preflight, plan, export), the
// journal's span, and what is left (wall time minus span). Also times `baton --version` (start-up
// alone) and an empty `node` (the floor), so the start-up share can be told from the rest.
// --ssh-concurrency sets ssh.concurrency (hosts worked on at once) to see how it plays at scale.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { writeLabConfig } from './lab-config.js';
import { journalPhases, labUp, quietPush, ROOT, round } from './lab-push.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'per-cluster': { type: 'string', default: '2' }, 'ssh-concurrency': { type: 'string' } } });
const runs = Number(values.runs);
const perCluster = Number(values['per-cluster']);

labUp(perCluster);
const sshConcurrency = values['ssh-concurrency'] === undefined ? undefined : Number(values['ssh-concurrency']);
const config = writeLabConfig('/run/baton-lab/baton.haproxy.first-step.yml', sshConcurrency === undefined ? [] : [[['ssh', 'concurrency'], sshConcurrency]]);
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1 before measuring');

const timed = (argv: string[]) => {
  const startedAt = Date.now();
  const t0 = performance.now();
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { startedAt, seconds: (performance.now() - t0) / 1000, status: r.status, stdout: r.stdout };
};

const pushes = [];
for (let i = 0; i < runs; i++) {
  const tag = i % 2 === 0 ? 'v2' : 'v1';
  const r = timed(['node', `${ROOT}/bin/run.js`, 'push', tag, '-c', config, '--json']);
  if (r.status !== 0) throw new Error(`push ${tag} ended with exit ${r.status}: ${r.stdout}`);
  const journal = (JSON.parse(r.stdout) as { journal: string }).journal;
  const phases = journalPhases(journal, r.startedAt);
  if (!phases) throw new Error(`push ${tag}: its journal has no steps`);
  pushes.push({ tag, seconds: round(r.seconds), ...phases, outsideSpanSeconds: round(r.seconds - phases.journalSpanSeconds) });
}
// Leave the lab on v1 for whatever runs next.
if (runs % 2 === 1 && (await quietPush('v1', config)) !== 0) throw new Error('could not put the lab back on v1');

const repeat = (argv: string[]) => median(Array.from({ length: runs }, () => timed(argv).seconds));
const median = (xs: number[]) => round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number);

console.log(
  JSON.stringify(
    {
      hostsPerCluster: perCluster,
      sshConcurrency: sshConcurrency ?? 'default',
      runs,
      median: {
        pushSeconds: median(pushes.map((p) => p.seconds)),
        timeToFirstStepSeconds: median(pushes.map((p) => p.timeToFirstStepSeconds)),
        journalSpanSeconds: median(pushes.map((p) => p.journalSpanSeconds)),
        outsideSpanSeconds: median(pushes.map((p) => p.outsideSpanSeconds)),
        versionSeconds: repeat(['node', `${ROOT}/bin/run.js`, '--version']),
        emptyNodeSeconds: repeat(['node', '-e', '']),
      },
      pushes,
    },
    null,
    2,
  ),
);
