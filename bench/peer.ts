// npm run bench:peer -- [--runs N] [--per-cluster N] [--concurrency N] [--slow-clients N] [--pad SECONDS] [--keepalive
//   on|off]
// baton against a peer on the same lab, under the same load, in the same run: the push as an
// Ansible rolling update (bench/ansible/push.yml: Debian's ansible, community.general.haproxy
// drain with wait, serial one cluster at a time). Ansible is installed here (apt) when missing,
// never in CI. Each run pushes v2 with baton, then v1 with Ansible (the same work back); prints
// each run and the medians with the ratio, failed requests and redispatches for both, as JSON.
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
    'ansible_user=root',
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
const commit = execFileSync('git', ['-C', '/run/baton-lab/repo', 'rev-parse', 'refs/tags/v1^{commit}'], {
  encoding: 'utf8',
}).trim();
const archive = join(work, 'v1.tar.gz');
execFileSync('git', ['-C', '/run/baton-lab/repo', 'archive', '--format=tar.gz', '-o', archive, commit]);
const ansibleArgv = [
  'ansible-playbook',
  '-i',
  join(work, 'inventory.ini'),
  `${ROOT}/bench/ansible/push.yml`,
  '-e',
  JSON.stringify({ release_dir: `v1-${commit.slice(0, 7)}`, archive, per_cluster: perCluster }),
];

const rows: { baton: Record<string, unknown>; ansible: Record<string, unknown> }[] = [];
for (let i = 0; i < runs; i++) {
  const b = await measurePush('v2', load, config);
  process.env.ANSIBLE_CONFIG = join(work, 'ansible.cfg');
  const a = await underLoad(ansibleArgv, load, LAB_CONFIG);
  rows.push({
    baton: {
      exitCode: b.exitCode,
      seconds: b.seconds,
      requests: b.load.requests,
      failed: b.load.failed,
      redispatches: b.redispatches + b.retries,
    },
    ansible: {
      exitCode: a.exitCode,
      seconds: a.seconds,
      requests: a.load.requests,
      failed: a.load.failed,
      redispatches: a.redispatches + a.retries,
    },
  });
}
const batonSeconds = median(rows.map((r) => r.baton.seconds as number));
const ansibleSeconds = median(rows.map((r) => r.ansible.seconds as number));
console.log(
  JSON.stringify(
    {
      hostsPerCluster: perCluster,
      load,
      ansible: version,
      runs: rows,
      median: { batonSeconds, ansibleSeconds, ansibleOverBaton: round(ansibleSeconds / batonSeconds) },
      failed: {
        baton: rows.reduce((n, r) => n + (r.baton.failed as number), 0),
        ansible: rows.reduce((n, r) => n + (r.ansible.failed as number), 0),
      },
      redispatches: {
        baton: rows.reduce((n, r) => n + (r.baton.redispatches as number), 0),
        ansible: rows.reduce((n, r) => n + (r.ansible.redispatches as number), 0),
      },
    },
    null,
    2,
  ),
);
