// npm run bench:startup -- [--runs N] [--node PATH,…] [--root DIR,…] [--no-cache]
// Start-up alone, no lab: `baton --version`, a push refused for its tag (it reads baton.yml, then
// refuses before any host is asked: exit 64) and `baton rollback --help`, beside an empty `node`
// (the runtime's own floor). Each runtime given with --node (default: the Node running this and
// Node 24 from npm's `node` package) and each checkout given with --root (default: this one; give
// a copy of an earlier build to compare before and after) is run in turn within each round, so load
// from other work on the machine falls on all of them alike. One start of each fills the compile
// cache first; --no-cache sets NODE_DISABLE_COMPILE_CACHE=1. Prints medians and minima as JSON.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hasCompileCache, node24 } from './node24.js';
import { repoRoot } from './repo-root.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '11' },
    node: { type: 'string' },
    root: { type: 'string' },
    'no-cache': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const ROOT = repoRoot();
const runtimes = values.node ? values.node.split(',') : [process.execPath, node24()];
const roots = values.root ? values.root.split(',') : [ROOT];
// Any valid baton.yml does: the tag is refused after it is read and before any host is asked.
const config = join(ROOT, 'test', 'lab', 'baton.haproxy.yml');
// Node reads NODE_DISABLE_COMPILE_CACHE set to anything, even empty, as "off": it is unset for "on".
const env: NodeJS.ProcessEnv = { ...process.env, CI: '1' };
if (values['no-cache']) env.NODE_DISABLE_COMPILE_CACHE = '1';
else delete env.NODE_DISABLE_COMPILE_CACHE;

const COMMANDS: Record<string, { args: (root: string) => string[]; exit: number }> = {
  version: { args: (root) => [join(root, 'bin', 'run.js'), '--version'], exit: 0 },
  refusedPush: { args: (root) => [join(root, 'bin', 'run.js'), 'push', 'not a tag', '-c', config], exit: 64 },
  rollbackHelp: { args: (root) => [join(root, 'bin', 'run.js'), 'rollback', '--help'], exit: 0 },
  emptyNode: { args: () => ['-e', ''], exit: 0 },
};

function seconds(node: string, args: string[], exit: number): number {
  const t0 = performance.now();
  const r = spawnSync(node, args, { encoding: 'utf8', env });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== exit) throw new Error(`${node} ${args.join(' ')} ended with exit ${r.status}, not ${exit}`);
  return s;
}

const cases = roots.flatMap((root) => runtimes.map((node) => ({ root, node, times: {} as Record<string, number[]> })));
for (const c of cases) for (const cmd of Object.values(COMMANDS)) seconds(c.node, cmd.args(c.root), cmd.exit);
for (let i = 0; i < runs; i++)
  for (const [name, cmd] of Object.entries(COMMANDS))
    for (const c of i % 2 === 0 ? cases : [...cases].reverse())
      (c.times[name] ??= []).push(seconds(c.node, cmd.args(c.root), cmd.exit));

const ms = (x: number) => Math.round(x * 1000);
const median = (xs: number[]) => ms([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number);
console.log(
  JSON.stringify(
    {
      runs,
      compileCache: !values['no-cache'],
      milliseconds: cases.map((c) => ({
        root: c.root,
        node: spawnSync(c.node, ['--version'], { encoding: 'utf8' }).stdout.trim(),
        cacheAvailable: hasCompileCache(c.node),
        median: Object.fromEntries(Object.entries(c.times).map(([k, xs]) => [k, median(xs)])),
        min: Object.fromEntries(Object.entries(c.times).map(([k, xs]) => [k, ms(Math.min(...xs))])),
      })),
    },
    null,
    2,
  ),
);
