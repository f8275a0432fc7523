// npm run bench:first-step -- [--runs N] [--per-cluster N] [--ssh-concurrency N] [--node PATH,…] [--no-cache-off]
//   [--root DIR]
// How long a push takes before its first step, with no load on the lab, on each Node runtime
// given (default: the one running this and Node 24 from npm's `node` package, installed once into
// a scratch prefix), with the compile cache on and, where the runtime has one, off
// (NODE_DISABLE_COMPILE_CACHE=1). For each: pushes v2 and v1 in turn and prints, per run and as
// medians, the wall time, the time from the command's start to the journal's first step
// (start-up, config, tag, SSH, observation, preflight, plan, export), the journal's span and what
// is left; `baton --version` (start-up alone), a push refused for its tag before any host is
// asked, and an empty `node` (the floor), so the start-up share can be told from the rest.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeLabConfig } from './lab-config.js';
import { journalPhases, labUp, quietPush, ROOT, round } from './lab-push.js';
import { hasCompileCache, node24 } from './node24.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'per-cluster': { type: 'string', default: '2' },
    'ssh-concurrency': { type: 'string' },
    node: { type: 'string' },
    root: { type: 'string', default: ROOT },
    'no-cache-off': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const perCluster = Number(values['per-cluster']);

const runtimes = values.node ? values.node.split(',') : [process.execPath, node24()];

labUp(perCluster);
const sshConcurrency = values['ssh-concurrency'] === undefined ? undefined : Number(values['ssh-concurrency']);
const config = writeLabConfig(
  '/run/baton-lab/baton.haproxy.first-step.yml',
  sshConcurrency === undefined ? [] : [[['ssh', 'concurrency'], sshConcurrency]],
);
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1 before measuring');

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

const median = (xs: number[]) => round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number);

function timed(argv: string[], env: NodeJS.ProcessEnv) {
  const startedAt = Date.now();
  const t0 = performance.now();
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', env: { ...process.env, CI: '1', ...env } });
  return { startedAt, seconds: (performance.now() - t0) / 1000, status: r.status, stdout: r.stdout };
}

function measure(node: string, cache: boolean) {
  // Node reads NODE_DISABLE_COMPILE_CACHE set to anything, even empty, as "off": unset it for "on".
  const env: NodeJS.ProcessEnv = cache
    ? { NODE_DISABLE_COMPILE_CACHE: undefined }
    : { NODE_DISABLE_COMPILE_CACHE: '1' };
  const baton = (...args: string[]) => [node, `${values.root}/bin/run.js`, ...args];
  const loadBefore = loadavg();
  timed(baton('--version'), env); // the first run fills the cache; what is measured is every later start
  const pushes = [];
  for (let i = 0; i < runs; i++) {
    const tag = i % 2 === 0 ? 'v2' : 'v1';
    const r = timed(baton('push', tag, '-c', config, '--json'), env);
    if (r.status !== 0) throw new Error(`push ${tag} on ${node} ended with exit ${r.status}: ${r.stdout}`);
    const phases = journalPhases((JSON.parse(r.stdout) as { journal: string }).journal, r.startedAt);
    if (!phases) throw new Error(`push ${tag}: its journal has no steps`);
    pushes.push({
      tag,
      seconds: round(r.seconds),
      ...phases,
      outsideSpanSeconds: round(r.seconds - phases.journalSpanSeconds),
    });
  }
  // Leave the lab on v1 for whatever runs next.
  if (runs % 2 === 1 && timed(baton('push', 'v1', '-c', config), env).status !== 0)
    throw new Error('could not put the lab back on v1');
  const repeat = (argv: string[], expect: number) =>
    median(
      Array.from({ length: runs }, () => {
        const r = timed(argv, env);
        if (r.status !== expect)
          throw new Error(`${argv.slice(1).join(' ')} ended with exit ${r.status}, not ${expect}`);
        return r.seconds;
      }),
    );
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return {
    node: version,
    compileCache: cache,
    loadavg: { before: loadBefore, after: loadavg() },
    median: {
      pushSeconds: median(pushes.map((p) => p.seconds)),
      timeToFirstStepSeconds: median(pushes.map((p) => p.timeToFirstStepSeconds)),
      journalSpanSeconds: median(pushes.map((p) => p.journalSpanSeconds)),
      outsideSpanSeconds: median(pushes.map((p) => p.outsideSpanSeconds)),
      versionSeconds: repeat(baton('--version'), 0),
      refusedPushSeconds: repeat(baton('push', 'not a tag', '-c', config), 64),
      emptyNodeSeconds: repeat([node, '-e', ''], 0),
    },
    pushes,
  };
}

const results = runtimes.flatMap((node) =>
  hasCompileCache(node)
    ? [measure(node, true), ...(values['no-cache-off'] ? [] : [measure(node, false)])]
    : [measure(node, false)],
);

console.log(
  JSON.stringify(
    {
      root: values.root,
      hostsPerCluster: perCluster,
      sshConcurrency: sshConcurrency ?? 'default',
      runs,
      runtimes: results,
    },
    null,
    2,
  ),
);
