// templates/ci/gitlab-ci.yml run by gitlab-ci-local against the lab, as GitLab would run it, jobs,
// rules, before_script (npm install -g of a packed baton, the deploy key into ssh-agent),
// after_script (status, report) and artifacts included, with the shell executor. Each "runner" has
// a HOME of its own (~/.ssh/config naming the lab's hosts, nothing more) and npm's global prefix in
// a scratch folder; the deploy key and known_hosts come in as CI/CD variables, and baton.yml names
// neither. In order: the merge request's plan job; apply on the default branch; an apply of the
// way back in a second clone, cancelled mid-run (SIGTERM to gitlab-ci-local's process group, then
// again, as a runner out of patience does: baton stops at once, leaving the run part-way); the
// manual resume job in a fresh clone with no .baton anywhere, on another "runner", which finishes
// that run from the record on production; then the manual rollback.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../bench/repo-root.js';
import { writeLabConfig } from '../../bench/lab-config.js';
import { RunEvent } from '../../src/engine/events.js';
import {
  fileVariableDirs,
  gitlabCiLocal,
  gitlabCiLocalArgv,
  jobLog,
  jobResults,
  removeFileVariableDirs,
  scratchRepo,
  stopAgentsUnder,
} from '../helpers/gitlab-ci-local.js';
import { agentLabConfig, LAB_KEY, LAB_KNOWN_HOSTS, labKeyAgent, packBaton, runnerHome } from './helpers/ci-lab.js';
import { currentReleases, readyAllHaproxyMembers } from './helpers/lab.js';

type Vars = Record<string, string>;

const ROOT = repoRoot();
const scratch = mkdtempSync(join(tmpdir(), 'baton-ci-gitlab-'));
const prefix = join(scratch, 'npm-prefix');
const fileVarsBefore = fileVariableDirs();
const other = (t: string) => (t === 'v1' ? 'v2' : 'v1');

let tarball: string;
let author: { socket: string; stop(): void };
let authorHome: string;
let npmCache: string;
/** The tag every app host runs before this file's first push. */
let from: string;

/** The tag every app host runs now (their release directories are <tag>-<commit>). */
async function serving(): Promise<string[]> {
  return [...new Set(Object.values(await currentReleases()).map((r) => r.replace(/-[0-9a-f]{7,}$/, '')))];
}

/**
 * The plan's author at a desk: `baton plan TAG -o deploy/plans/production.json` in `checkout`, with the lab key in an
 * agent.
 */
async function authorPlan(checkout: string, tag: string): Promise<string> {
  const made = await execa(
    'node',
    [
      join(ROOT, 'bin/run.js'),
      'plan',
      tag,
      '-c',
      join(checkout, 'deploy/baton.yml'),
      '-o',
      join(checkout, 'deploy/plans/production.json'),
    ],
    {
      reject: false,
      env: { HOME: authorHome, SSH_AUTH_SOCK: author.socket, CI: '1', BATON_USER: 'author' },
    },
  );
  expect(made.exitCode, made.stderr).toBe(0);
  return readFileSync(join(checkout, 'deploy/plans/production.json'), 'utf8');
}

/** gitlab-ci-local's arguments and environment for a runner whose HOME is `home`. */
function runner(home: string, args: string[]): { argv: string[]; env: Vars } {
  const variables: Vars = {
    BATON_PACKAGE: tarball,
    BATON_SSH_KEY: readFileSync(LAB_KEY, 'utf8'),
    BATON_KNOWN_HOSTS: readFileSync(LAB_KNOWN_HOSTS, 'utf8'),
  };
  return {
    argv: [
      '--force-shell-executor',
      '--ignore-predefined-vars',
      'CI_PIPELINE_SOURCE',
      ...Object.entries(variables).flatMap(([k, v]) => ['--variable', `${k}=${v}`]),
      ...args,
    ],
    env: {
      HOME: home,
      PATH: [
        join(prefix, 'bin'),
        dirname(process.execPath),
        '/usr/local/sbin',
        '/usr/local/bin',
        '/usr/sbin',
        '/usr/bin',
        '/sbin',
        '/bin',
      ].join(':'),
      // `npm install -g` into the scratch prefix, never the machine's; the packages from npm's cache.
      NPM_CONFIG_PREFIX: prefix,
      NPM_CONFIG_CACHE: npmCache,
      NPM_CONFIG_PREFER_OFFLINE: 'true',
      NPM_CONFIG_AUDIT: 'false',
      NPM_CONFIG_FUND: 'false',
      NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    },
  };
}

async function runPipeline(repo: string, home: string, args: string[] = []) {
  const { argv, env } = runner(home, args);
  return gitlabCiLocal(repo, argv, { env, extendEnv: false, timeout: 240_000 });
}

function events(file: string): RunEvent[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => RunEvent.parse(JSON.parse(l)));
}

function clone(src: string, dest: string): string {
  execFileSync('git', ['clone', '-q', src, dest]);
  execFileSync('git', ['remote', 'set-url', 'origin', 'https://gitlab.example.com/acme/shop.git'], { cwd: dest });
  return dest;
}

function commitAll(repo: string, message: string): void {
  execFileSync('git', ['add', '-A', 'deploy'], { cwd: repo });
  execFileSync(
    'git',
    ['-c', 'user.name=author', '-c', 'user.email=author@example.com', 'commit', '-q', '-m', message],
    { cwd: repo },
  );
}

/** Every .baton folder under `dir`. */
function batonDirs(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name === '.baton')
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  tarball = await packBaton(scratch);
  npmCache = (await execa('npm', ['config', 'get', 'cache'])).stdout.trim();
  authorHome = runnerHome(join(scratch, 'author-home'), true);
  author = labKeyAgent(join(scratch, 'author-agent.sock'));
  let tags = await serving();
  if (tags.length !== 1) {
    // An earlier file left hosts on different releases: settle on v1 first.
    const settle = await execa(
      'node',
      [join(ROOT, 'bin/run.js'), 'push', 'v1', '-c', writeLabConfig(join(scratch, 'settle.yml'))],
      { reject: false, env: { CI: '1' } },
    );
    expect(settle.exitCode, settle.stderr).toBe(0);
    tags = await serving();
  }
  from = tags[0] as string;
}, 300_000);

afterAll(() => {
  author?.stop();
  stopAgentsUnder(scratch);
  removeFileVariableDirs(fileVarsBefore);
  rmSync(scratch, { recursive: true, force: true });
});

describe('templates/ci/gitlab-ci.yml under gitlab-ci-local, against the lab', () => {
  let origin: string;
  const to = () => other(from);

  it(
    'a merge request pipeline runs plan, rendering the reviewed plan; ' +
      "the default branch's pipeline runs apply, which carries it out",
    async () => {
      // The repository: the pipeline and baton.yml on main, then the author's plan, as a merge brings it.
      origin = join(scratch, 'origin');
      mkdirSync(join(origin, 'deploy/plans'), { recursive: true });
      const config = readFileSync(agentLabConfig(join(origin, 'deploy/baton.yml')), 'utf8');
      const plan = await authorPlan(origin, to());
      // The plan comes in with the second commit (what `rules: changes` sees), not with the first.
      rmSync(join(origin, 'deploy/plans/production.json'));
      const base = {
        '.gitlab-ci.yml': readFileSync(join(ROOT, 'templates/ci/gitlab-ci.yml'), 'utf8'),
        '.gitignore': '.baton/\n.gitlab-ci-local/\n',
        'deploy/baton.yml': config,
      };
      scratchRepo(origin, { 'deploy/plans/production.json': plan }, { base, branch: `release-${to()}` });

      const mr = await runPipeline(origin, runnerHome(join(scratch, 'home-mr')), [
        '--variable',
        'CI_PIPELINE_SOURCE=merge_request_event',
      ]);
      expect(jobResults(mr.all), mr.all).toEqual({ plan: 'PASS' });
      expect(readFileSync(join(origin, '.gitlab-ci-local/artifacts/plan/plan.md'), 'utf8')).toContain(to());

      execFileSync('git', ['checkout', '-q', 'main'], { cwd: origin });
      const push = await runPipeline(origin, runnerHome(join(scratch, 'home-apply')));
      expect(push.exitCode, push.all).toBe(0);
      expect(jobResults(push.all), push.all).toEqual({ apply: 'PASS' });
      expect(events(join(origin, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 0,
        result: { outcome: 'succeeded', tag: to() },
      });
      expect(await serving()).toEqual([to()]);
      // after_script: status read production through the agent again; the report and the events kept.
      const log = jobLog(origin, 'apply');
      expect(log).toMatch(/baton status -c "\$BATON_CONFIG"/);
      expect(log).not.toMatch(/^baton (status|report) exited/m);
      for (const f of ['events.jsonl', 'baton-report.html'])
        expect(existsSync(join(origin, '.gitlab-ci-local/artifacts/apply', f)), f).toBe(true);
    },
    240_000,
  );

  it(
    'an apply cancelled mid-run is finished by the manual resume job from a fresh clone on another runner; ' +
      'then rollback undoes it',
    async () => {
      // A second working copy merges the plan of the way back, and its pipeline's apply is cancelled part-way.
      const second = clone(origin, join(scratch, 'second'));
      await authorPlan(second, from);
      commitAll(second, `plan ${from}`);
      const { argv, env } = runner(runnerHome(join(scratch, 'home-cancelled')), []);
      const child = spawn(process.execPath, gitlabCiLocalArgv(argv), {
        cwd: second,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const group = child.pid as number;
      const stream = join(second, 'events.jsonl');
      const deadline = Date.now() + 150_000;
      // The first step that changes a cluster has begun, after the lock, the drain and the stage.
      while (!(
        existsSync(stream) && /"event":"step-begin"[^\n]*"kind":"activate"/.test(readFileSync(stream, 'utf8'))
      )) {
        if (Date.now() > deadline) {
          process.kill(-group, 'SIGKILL');
          throw new Error(`the apply never reached its first activate step:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      process.kill(-group, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 20));
      process.kill(-group, 'SIGTERM');
      expect([143, null]).toContain(await exited);
      // baton, left in the group when gitlab-ci-local and the job's shell ended, stops at once too.
      for (const until = Date.now() + 60_000; ;) {
        try {
          process.kill(-group, 0);
        } catch {
          break;
        }
        if (Date.now() > until) {
          process.kill(-group, 'SIGKILL');
          throw new Error("the cancelled job's processes did not end");
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      // Its after_script never ran (gitlab-ci-local does not run it on a signal): its agent is ours to stop.
      stopAgentsUnder(join(scratch, 'home-cancelled'));
      const journals = join(second, 'deploy/.baton/journal');
      // This machine's copy of the journal says where the run stopped (it may also hold earlier runs, read from
      // production).
      const journal = readdirSync(journals).find(
        (f) => f.endsWith('.jsonl') && readFileSync(join(journals, f), 'utf8').includes('second SIGTERM'),
      );
      expect(journal, `no journal of the cancelled run in ${journals}:\n${output}`).toBeDefined();
      const run = (journal as string).replace(/\.jsonl$/, '');
      expect(
        readFileSync(join(journals, journal as string), 'utf8'),
        'stopped part-way through the forward steps',
      ).toMatch(/second SIGTERM: stopped at once during activate-\w+ \(forward\)/);

      // Another runner, a fresh clone: nothing of that run but what production keeps.
      const fresh = clone(second, join(scratch, 'fresh'));
      const home = runnerHome(join(scratch, 'home-fresh'));
      expect([...batonDirs(fresh), ...batonDirs(home)]).toEqual([]);
      const resume = await runPipeline(fresh, home, ['resume']);
      expect(jobResults(resume.all), resume.all).toEqual({ resume: 'PASS' });
      expect(resume.all).toContain(`resuming run ${run}`);
      expect(events(join(fresh, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 0,
        result: { run, outcome: 'succeeded', tag: from },
      });
      expect(await serving()).toEqual([from]);
      expect(readFileSync(join(fresh, '.gitlab-ci-local/artifacts/resume/baton-report.html'), 'utf8')).toContain(run);

      const rollback = await runPipeline(fresh, home, ['rollback']);
      expect(jobResults(rollback.all), rollback.all).toEqual({ rollback: 'PASS' });
      expect(events(join(fresh, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 0,
        result: { kind: 'rollback' },
      });
      expect(await serving()).toEqual([to()]);
      expect(existsSync(join(fresh, '.gitlab-ci-local/artifacts/rollback/baton-report.html'))).toBe(true);
    },
    300_000,
  );
});
