// npm run bench:peer -- [--runs N] [--per-cluster N] [--concurrency N] [--slow-clients N] [--pad SECONDS] [--keepalive
//   on|off]
// baton against two peers on the same lab, under the same load, in the same series: the hand-written
// shell push (bench/baseline-push.sh: HAProxy's runtime API drain/ready over one multiplexed SSH
// connection, parallel ssh to the hosts) and an Ansible rolling update (bench/ansible/push.yml:
// Debian's ansible, community.general.haproxy drain with wait, serial one cluster at a time).
// Ansible is installed here (apt) when missing, never in CI. Each round pushes with baton, then the
// shell push, then Ansible, each to the release the lab is not on (v1 and v2 alternate), so every
// push does the same work; prints each round with its ratios, the medians with theirs, and the
// failed requests and redispatches of all three, as JSON.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  labUp,
  LAB_CONFIG,
  LOAD_OPTIONS,
  measurePush,
  quietPush,
  ROOT,
  round,
  shapeOf,
  underLoad,
} from './lab-push.js';
import { writeLabConfig } from './lab-config.js';

const { values } = parseArgs({ options: { ...LOAD_OPTIONS, runs: { type: 'string', default: '3' } } });
const load = shapeOf(values);
const runs = Number(values.runs);
const perCluster = Number(values['per-cluster']);

function ensureAnsible(): string {
  try {
    return execFileSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  } catch {
    process.stderr.write("installing Debian's ansible for this benchmark (apt-get install ansible)…\n");
    execFileSync('apt-get', ['install', '-y', '-q', 'ansible'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return execFileSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
};

const version = ensureAnsible();
labUp(perCluster);
const config = writeLabConfig('/run/baton-lab/baton.peer.bench.yml');
if ((await quietPush('v1', config)) !== 0) throw new Error('could not set the lab to v1 before measuring');

// The inventory from the lab's host list: app hosts of cluster a, then b (serial takes them in this order).
const work = mkdtempSync(join(tmpdir(), 'baton-bench-peer-'));
const hosts = readFileSync('/run/baton-lab/hosts.tsv', 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split(' '));
const app = (c: string) => hosts.filter((h) => h[3] === 'app' && h[4] === c).map((h) => `${h[1]} member=${h[0]}`);
writeFileSync(
  join(work, 'inventory.ini'),
  [
    '[app]',
    ...app('a'),
    ...app('b'),
    '',
    '[all:vars]',
    'ansible_user=deploy',
    'ansible_python_interpreter=/usr/bin/python3',
    '',
  ].join('\n'),
);
writeFileSync(
  join(work, 'ansible.cfg'),
  [
    '[defaults]',
    'host_key_checking = True',
    'interpreter_python = /usr/bin/python3',
    'forks = 50',
    '[ssh_connection]',
    'pipelining = True',
    `ssh_args = -F /run/baton-lab/ssh_config -o ControlMaster=auto -o ControlPersist=60s`,
    '',
  ].join('\n'),
);
/** The playbook's argv for a tag: the release's directory name and its archive, made once. */
function ansibleArgv(tag: string): string[] {
  const commit = execFileSync('git', ['-C', '/run/baton-lab/repo', 'rev-parse', `refs/tags/${tag}^{commit}`], {
    encoding: 'utf8',
  }).trim();
  const archive = join(work, `${tag}.tar.gz`);
  execFileSync('git', ['-C', '/run/baton-lab/repo', 'archive', '--format=tar.gz', '-o', archive, commit]);
  return [
    'ansible-playbook',
    '-i',
    join(work, 'inventory.ini'),
    `${ROOT}/bench/ansible/push.yml`,
    '-e',
    JSON.stringify({ release_dir: `${tag}-${commit.slice(0, 7)}`, archive, per_cluster: perCluster }),
  ];
}
const ansibleFor = { v1: ansibleArgv('v1'), v2: ansibleArgv('v2') };
process.env.ANSIBLE_CONFIG = join(work, 'ansible.cfg');

interface Row {
  tag: string;
  exitCode: number;
  seconds: number;
  requests: number;
  failed: number;
  redispatches: number;
}
const row = (
  tag: string,
  r: {
    exitCode: number;
    seconds: number;
    load: { requests: number; failed: number };
    redispatches: number;
    retries: number;
  },
): Row => ({
  tag,
  exitCode: r.exitCode,
  seconds: r.seconds,
  requests: r.load.requests,
  failed: r.load.failed,
  redispatches: r.redispatches + r.retries,
});
const rows: { baton: Row; shell: Row; ansible: Row; batonOverShell: number; ansibleOverBaton: number }[] = [];
let live: 'v1' | 'v2' = 'v1';
const other = (): 'v1' | 'v2' => (live === 'v1' ? 'v2' : 'v1');
for (let i = 0; i < runs; i++) {
  let tag = other();
  const b = row(tag, await measurePush(tag, load, config));
  live = tag;
  tag = other();
  const s = row(tag, await underLoad(['bash', `${ROOT}/bench/baseline-push.sh`, tag], load, config));
  live = tag;
  tag = other();
  const a = row(tag, await underLoad(ansibleFor[tag], load, LAB_CONFIG));
  live = tag;
  if (b.exitCode || s.exitCode || a.exitCode) throw new Error(`a push failed: ${JSON.stringify({ b, s, a })}`);
  rows.push({
    baton: b,
    shell: s,
    ansible: a,
    batonOverShell: round(b.seconds / s.seconds),
    ansibleOverBaton: round(a.seconds / b.seconds),
  });
}
const batonSeconds = median(rows.map((r) => r.baton.seconds));
const shellSeconds = median(rows.map((r) => r.shell.seconds));
const ansibleSeconds = median(rows.map((r) => r.ansible.seconds));
const total = (f: (r: Row) => number) => ({
  baton: rows.reduce((n, r) => n + f(r.baton), 0),
  shell: rows.reduce((n, r) => n + f(r.shell), 0),
  ansible: rows.reduce((n, r) => n + f(r.ansible), 0),
});
console.log(
  JSON.stringify(
    {
      hostsPerCluster: perCluster,
      load,
      ansible: version,
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
      runs: rows,
      median: {
        batonSeconds,
        shellSeconds,
        ansibleSeconds,
        batonOverShell: round(batonSeconds / shellSeconds),
        ansibleOverBaton: round(ansibleSeconds / batonSeconds),
      },
      perRound: {
        batonOverShell: rows.map((r) => r.batonOverShell),
        ansibleOverBaton: rows.map((r) => r.ansibleOverBaton),
      },
      requests: total((r) => r.requests),
      failed: total((r) => r.failed),
      redispatches: total((r) => r.redispatches),
    },
    null,
    2,
  ),
);
