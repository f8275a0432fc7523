// The CI pipelines under templates/ci, checked without production: the GitHub workflow against
// GitHub's schema (action-validator, which bundles it) and the GitLab one against GitLab's
// (gitlab-ci-local validates before it runs); the properties a release engineer relies on, read
// from the YAML; and each job's shell run for real — GitLab's by gitlab-ci-local with the shell
// executor, GitHub's step by step as the runner would — with a stand-in `baton` (installed by the
// template's own `npm install -g "$BATON_PACKAGE"`) that records what it was asked and what the
// ssh-agent held, a throwaway deploy key, and a scratch HOME. The lab test
// test/integration/ci-gitlab-local.test.ts runs the GitLab template with the real baton.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../bench/repo-root.js';
import { runGithubJob, type Workflow, type WorkflowJob, type WorkflowStep } from '../helpers/github-steps.js';
import {
  fileVariableDirs,
  gitlabCiLocal,
  jobLog,
  jobResults,
  removeFileVariableDirs,
  scratchRepo,
  stopAgentsUnder,
} from '../helpers/gitlab-ci-local.js';

const ROOT = repoRoot();
const GITHUB = join(ROOT, 'templates/ci/github-actions.yml');
const GITLAB = join(ROOT, 'templates/ci/gitlab-ci.yml');
const scratch = mkdtempSync(join(tmpdir(), 'baton-ci-templates-'));
const fileVarsBefore = fileVariableDirs();

type Vars = Record<string, string>;
type Step = WorkflowStep;
type GithubJob = WorkflowJob;
interface GitlabJob {
  extends?: string;
  stage?: string;
  image?: string;
  timeout?: string;
  rules?: Record<string, unknown>[];
  before_script?: unknown[];
  script?: unknown[];
  after_script?: unknown[];
  artifacts?: { when?: string; paths?: string[] };
  cache?: unknown;
  resource_group?: string;
  environment?: string;
}

const workflow = parse(readFileSync(GITHUB, 'utf8')) as Workflow;
const pipeline = parse(readFileSync(GITLAB, 'utf8')) as Record<string, unknown> & {
  variables: Vars;
  default: GitlabJob;
};

// A throwaway deploy key, and a known_hosts line for a throwaway host key.
let key: { private: string; fingerprint: string; body: string };
let knownHosts: string;
// A stand-in for baton, as an npm package the templates install with `npm install -g "$BATON_PACKAGE"`.
const stub = join(scratch, 'baton-stub');
const prefix = join(scratch, 'prefix');

const STUB = `#!/bin/sh
# baton as the CI templates call it, without production: what it was asked, and what it could use.
{
  echo "baton $*"
  echo "  SSH_AUTH_SOCK=\${SSH_AUTH_SOCK:-}"
  ssh-add -l 2>&1 | sed 's/^/  agent: /'
  echo "  known_hosts mode $(stat -c %a ~/.ssh/known_hosts 2>/dev/null)"
  echo "  BATON_USER=$BATON_USER SHOP_API_TOKEN=\${SHOP_API_TOKEN:-}"
} >> "$STUB_LOG"
case "$1" in
  apply|rollback|resume)
    code=\${STUB_EXIT:-0}
    printf '{"v":1,"ts":"2026-01-01T00:00:00.000Z","event":"result","exitCode":%s}\\n' "$code"
    exit "$code" ;;
  report)
    while [ $# -gt 0 ]; do if [ "$1" = -o ]; then \
echo '<!doctype html><title>baton report</title>' > "$2"; fi; shift; done ;;
  plan) echo '# Push v2 (stand-in)' ;;
esac
`;

beforeAll(() => {
  const file = join(scratch, 'deploy_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'baton-ci-test', '-f', file]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'host', '-f', join(scratch, 'host_key')]);
  const priv = readFileSync(file, 'utf8');
  key = {
    private: priv,
    fingerprint: execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1] as string,
    body: priv.split('\n')[2] as string,
  }; // the first line is the same in every such key
  rmSync(file);
  knownHosts =
    'web-1.prod-a.example.com,10.0.0.11' +
    ` ${readFileSync(join(scratch, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
  rmSync(join(scratch, 'host_key'));
  mkdirSync(stub);
  writeFileSync(
    join(stub, 'package.json'),
    JSON.stringify({ name: 'baton', version: '0.0.0-stub', bin: { baton: 'baton.sh' } }),
  );
  writeFileSync(join(stub, 'baton.sh'), STUB);
  chmodSync(join(stub, 'baton.sh'), 0o755);
});

afterAll(() => {
  stopAgentsUnder(scratch);
  removeFileVariableDirs(fileVarsBefore);
  rmSync(scratch, { recursive: true, force: true });
});

/** The environment a job runs in here: a fresh HOME, npm's global prefix in the scratch folder, the stand-in's log. */
function jobEnv(name: string, extra: Vars = {}): Vars & { HOME: string; STUB_LOG: string } {
  const home = join(scratch, name, 'home');
  mkdirSync(home, { recursive: true });
  return {
    HOME: home,
    PATH: [join(prefix, 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    NPM_CONFIG_PREFIX: prefix,
    NPM_CONFIG_AUDIT: 'false',
    NPM_CONFIG_FUND: 'false',
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    NPM_CONFIG_CACHE: join(scratch, 'npm-cache'),
    STUB_LOG: join(scratch, name, 'baton.log'),
    ...extra,
  };
}

/** Every file under `dir` (but the skipped folders) whose text holds `needle`. */
function filesHolding(dir: string, needle: string, skip: RegExp): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile() || skip.test(path)) continue;
    if (readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

const DEPLOY_FILES = { 'deploy/baton.yml': 'app: {name: shop}\n', 'tools/.keep': '' };
const PLAN_FILE = { 'deploy/plans/production.json': '{"stand-in": "plan v2"}\n' };

describe('templates/ci/github-actions.yml', () => {
  const validate = (file: string) =>
    execa(process.execPath, [join(ROOT, 'node_modules/@action-validator/cli/cli.mjs'), file], {
      reject: false,
      all: true,
    });

  it("is a valid workflow by GitHub's schema (action-validator, offline)", async () => {
    const r = await validate(GITHUB);
    expect(r.exitCode, r.all).toBe(0);
  });

  it('the validator can fail: a job without runs-on, an unknown key and a bad timeout are each refused', async () => {
    const broken: [string, (w: Workflow) => void][] = [
      ['no-runs-on', (w) => void delete (w.jobs.apply as Partial<GithubJob>)['runs-on']],
      ['unknown-key', (w) => void ((w.jobs.apply as unknown as Vars)['timeout-minute'] = '60')],
      ['bad-permission', (w) => void (w.permissions = { contents: 'everything' })],
    ];
    for (const [name, breakIt] of broken) {
      const w = parse(readFileSync(GITHUB, 'utf8')) as Workflow;
      breakIt(w);
      const file = join(scratch, `${name}.yml`);
      writeFileSync(file, stringify(w));
      const r = await validate(file);
      expect(r.exitCode, `${name}: ${r.all}`).toBe(1);
    }
  }, 30_000); // three validator processes: about 5 s on a busy machine

  it('least privilege, bounded jobs, Node 24, no cache, one release at a time', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.concurrency['cancel-in-progress']).toBe(false);
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect(job['timeout-minutes'], name).toBeGreaterThan(0);
      expect(
        job.steps.filter((s) => s.uses?.startsWith('actions/cache')),
        name,
      ).toEqual([]);
      for (const s of job.steps.filter((s) => s.uses?.startsWith('actions/setup-node')))
        expect(s.with?.['node-version'], name).toBe(24);
    }
    expect(readFileSync(GITHUB, 'utf8')).not.toMatch(/\.baton|cache@|ssh-keyscan [^\n]*>>|StrictHostKeyChecking/);
    expect(readFileSync(GITHUB, 'utf8')).toMatch(/run record/);
    expect(workflow.env.BATON_USER).toMatch(/github\.run_id/);
  });

  it('the pull request job renders the reviewed plan and gets no secret', () => {
    const plan = workflow.jobs.plan as GithubJob;
    expect(plan.steps.map((s) => s.run ?? '').join('\n')).toContain(
      'baton plan --from "$BATON_PLAN" -c "$BATON_CONFIG" --format markdown',
    );
    expect(JSON.stringify(plan)).not.toMatch(/secrets\./);
  });

  for (const name of ['apply', 'recover']) {
    it(
      `${name}: the key from secrets.BATON_SSH_KEY goes to ssh-add, never to a file; ` +
        'status and report run whatever happened, and are uploaded',
      () => {
        const job = workflow.jobs[name] as GithubJob;
        expect(job.environment).toBe('production');
        const keyStep = job.steps.findIndex((s) => s.env?.BATON_SSH_KEY);
        const agent = job.steps[keyStep] as Step;
        expect(agent.env).toEqual({
          BATON_SSH_KEY: '${{ secrets.BATON_SSH_KEY }}',
          BATON_KNOWN_HOSTS: '${{ secrets.BATON_KNOWN_HOSTS }}',
        });
        const keyLines = (agent.run as string).split('\n').filter((l) => l.includes('BATON_SSH_KEY'));
        expect(keyLines.some((l) => /\| ssh-add -q -$/.test(l))).toBe(true);
        for (const l of keyLines) expect(l, 'the key is never redirected into a file').not.toMatch(/>/);
        expect(agent.run).toMatch(/> ~\/\.ssh\/known_hosts\n\s*chmod 600 ~\/\.ssh\/known_hosts/);
        expect(JSON.stringify(job.env ?? {})).toMatch(/\$\{\{ secrets\.SHOP_API_TOKEN \}\}/);

        const main = job.steps.findIndex((s) => /baton (apply|rollback|resume)/.test(s.run ?? ''));
        expect(main).toBeGreaterThan(keyStep);
        expect(job.steps[main]?.run).toMatch(/set -o pipefail/);
        const after = job.steps.slice(main + 1);
        const status = after.find((s) => s.run?.includes('baton status -c "$BATON_CONFIG"'));
        expect(status?.if).toMatch(/always\(\)|failure\(\) \|\| cancelled\(\)/);
        expect(status?.run).toContain('baton report -c "$BATON_CONFIG" -o baton-report.html');
        const upload = after.find((s) => s.uses?.startsWith('actions/upload-artifact'));
        expect(upload?.if).toBe('always()');
        expect(String(upload?.with?.path)).toMatch(/events\.jsonl[\s\S]*baton-report\.html/);
        expect(after.indexOf(upload as Step)).toBeGreaterThan(after.indexOf(status as Step));
      },
    );
  }
  it('apply carries out the reviewed plan, waiting for the lock, streaming events', () => {
    expect((workflow.jobs.apply as GithubJob).steps.map((s) => s.run ?? '').join('\n')).toContain(
      'baton apply "$BATON_PLAN" -c "$BATON_CONFIG" --lock-wait 10m --format jsonl | tee events.jsonl',
    );
  });

  // The job's `run` steps as the runner would (test/helpers/github-steps.ts), `uses:` steps left to GitHub.
  function runJob(name: string, dir: string, env: Vars, secrets: Vars, inputs: Vars = {}) {
    const context: Vars = {
      'github.repository': 'acme/shop',
      'github.run_id': '4242',
      ...Object.fromEntries(Object.entries(secrets).map(([k, v]) => [`secrets.${k}`, v])),
      ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`inputs.${k}`, v])),
    };
    const runnerTemp = join(dir, '..', 'runner-temp');
    return runGithubJob(workflow, name, { dir, env, context, runnerTemp }).then((r) => ({ ...r, runnerTemp }));
  }

  function githubCheckout(name: string): string {
    const dir = join(scratch, name, 'work');
    for (const [path, text] of Object.entries({ ...DEPLOY_FILES, ...PLAN_FILE })) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  }

  it(
    'apply, run as written: the agent holds the key for apply, status and report; nothing holds it on disk; ' +
      'the agent is stopped',
    { timeout: 60_000 },
    async () => {
      const dir = githubCheckout('gh-apply');
      const env = jobEnv('gh-apply', { BATON_PACKAGE: stub });
      const { ran, failed, runnerTemp } = await runJob('apply', dir, env, {
        BATON_SSH_KEY: key.private,
        BATON_KNOWN_HOSTS: knownHosts,
        SHOP_API_TOKEN: 's3cr3t',
      });
      expect(failed, JSON.stringify(ran, null, 1)).toBe(false);
      const log = readFileSync(env.STUB_LOG, 'utf8');
      for (const command of [
        'apply deploy/plans/production.json -c deploy/baton.yml --lock-wait 10m --format jsonl',
        'status -c deploy/baton.yml',
        'report -c deploy/baton.yml -o baton-report.html',
      ]) {
        const entry = log.split(/^(?=baton )/m).find((e) => e.startsWith(`baton ${command}`));
        expect(entry, command).toBeDefined();
        expect(entry).toContain(`SSH_AUTH_SOCK=${join(runnerTemp, 'baton-agent.sock')}`);
        expect(entry).toContain(key.fingerprint);
        expect(entry).toContain('known_hosts mode 600');
        expect(entry).toContain('BATON_USER=github-actions/acme/shop#4242 SHOP_API_TOKEN=s3cr3t');
      }
      expect(readFileSync(join(env.HOME, '.ssh/known_hosts'), 'utf8').trim()).toBe(knownHosts.trim());
      expect(statSync(join(env.HOME, '.ssh/known_hosts')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir, 'events.jsonl')) && existsSync(join(dir, 'baton-report.html'))).toBe(true);
      expect(filesHolding(scratch, key.body, /\/npm-cache\/|\/variables\.yml$/)).toEqual([]);
      expect(existsSync(join(runnerTemp, 'baton-agent.sock')), 'the agent was stopped').toBe(false);
    },
  );

  it('a failed apply still gets status, the report and the agent stopped', { timeout: 60_000 }, async () => {
    const dir = githubCheckout('gh-failed');
    const env = jobEnv('gh-failed', { BATON_PACKAGE: stub, STUB_EXIT: '2' });
    const { ran, runnerTemp } = await runJob('apply', dir, env, {
      BATON_SSH_KEY: key.private,
      BATON_KNOWN_HOSTS: knownHosts,
    });
    expect(ran.map((r) => [r.name, r.exitCode])).toEqual([
      ['install baton', 0],
      ['deploy key into ssh-agent, host keys into ~/.ssh/known_hosts', 0],
      ['apply the approved plan', 2],
      ['status and report (also when the apply failed or was cancelled)', 0],
      ['stop ssh-agent', 0],
    ]);
    expect(readFileSync(env.STUB_LOG, 'utf8')).toMatch(/baton status[\s\S]*baton report/);
    expect(existsSync(join(dir, 'baton-report.html'))).toBe(true);
    expect(existsSync(join(runnerTemp, 'baton-agent.sock'))).toBe(false);
  });

  it(
    'recover resumes or rolls back as asked; a missing key secret stops the job before baton runs',
    { timeout: 60_000 },
    async () => {
      const dir = githubCheckout('gh-recover');
      const env = jobEnv('gh-recover', { BATON_PACKAGE: stub });
      const resume = await runJob(
        'recover',
        dir,
        env,
        { BATON_SSH_KEY: key.private, BATON_KNOWN_HOSTS: knownHosts },
        { action: 'resume' },
      );
      expect(resume.failed).toBe(false);
      expect(readFileSync(env.STUB_LOG, 'utf8')).toMatch(/^baton resume -c deploy\/baton\.yml --format jsonl$/m);

      const env2 = jobEnv('gh-nokey', { BATON_PACKAGE: stub });
      const nokey = await runJob(
        'recover',
        githubCheckout('gh-nokey'),
        env2,
        { BATON_KNOWN_HOSTS: knownHosts },
        { action: 'rollback' },
      );
      expect(nokey.ran[1]?.all).toMatch(/add the secret BATON_SSH_KEY/);
      expect(readFileSync(env2.STUB_LOG, 'utf8')).not.toMatch(/baton rollback/);
    },
  );
});

describe('gitlab-ci-local, the mechanism', () => {
  it(
    'runs a job of a scratch repository with the shell executor, image or not, with a variable from the command line',
    { timeout: 60_000 },
    async () => {
      const repo = scratchRepo(join(scratch, 'mechanism'), {
        '.gitlab-ci.yml':
          'hello:\n  image: node:24\n  script:\n    - echo "greeting=$GREETING node=$(node --version)"\n    ' +
          '- echo done > out.txt\n  artifacts:\n    paths: [out.txt]\n',
      });
      const r = await gitlabCiLocal(repo, ['--force-shell-executor', '--variable', 'GREETING=hello from a variable']);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toContain(`greeting=hello from a variable node=${process.version}`);
      expect(jobResults(r.all)).toEqual({ hello: 'PASS' });
      expect(readFileSync(join(repo, '.gitlab-ci-local/artifacts/hello/out.txt'), 'utf8')).toBe('done\n');
    },
  );
});

describe('templates/ci/gitlab-ci.yml', () => {
  const jobs = Object.entries(pipeline).filter(
    ([k, v]) => !k.startsWith('.') && typeof v === 'object' && v !== null && ('script' in v || 'extends' in v),
  ) as [string, GitlabJob][];
  /** A job with what it extends (one level, as the template uses it). */
  const resolved = (job: GitlabJob): GitlabJob => ({
    ...(job.extends ? (pipeline[job.extends] as GitlabJob) : {}),
    ...job,
  });

  it(
    'Node 24, no cache, every job bounded by a timeout; deploy jobs one at a time, ' +
      'status and report in after_script, kept always',
    () => {
      expect(pipeline.default.image).toBe('node:24');
      expect(readFileSync(GITLAB, 'utf8')).not.toMatch(
        /^\s*cache:|\.baton|ssh-keyscan [^\n]*>>|StrictHostKeyChecking/m,
      );
      expect(readFileSync(GITLAB, 'utf8')).toMatch(/run record/);
      expect(jobs.map(([n]) => n).sort()).toEqual(['apply', 'plan', 'resume', 'rollback']);
      for (const [name, job] of jobs) expect(resolved(job).timeout, name).toMatch(/^\d+[mh]$/);
      for (const name of ['apply', 'rollback', 'resume']) {
        const job = resolved(pipeline[name] as GitlabJob);
        expect(job.resource_group).toBe('production');
        const after = (job.after_script ?? []).flat(9).join('\n');
        expect(after).toContain('baton status -c "$BATON_CONFIG"');
        expect(after).toContain('baton report -c "$BATON_CONFIG" -o baton-report.html');
        expect(after, 'after_script is a new shell: the agent again').toContain('SSH_AUTH_SOCK=');
        expect(job.artifacts).toEqual({ when: 'always', paths: ['events.jsonl', 'baton-report.html'] });
        expect((job.script ?? []).join('\n')).toMatch(/^set -o pipefail\nbaton (apply|rollback|resume) /);
      }
      expect((pipeline.apply as GitlabJob).script?.join('\n')).toContain(
        'baton apply "$BATON_PLAN" -c "$BATON_CONFIG" --lock-wait 10m --format jsonl | tee events.jsonl',
      );
      expect((pipeline.plan as GitlabJob).script?.join('\n')).toContain(
        'baton plan --from "$BATON_PLAN" -c "$BATON_CONFIG" --format markdown',
      );
      expect(pipeline.variables.BATON_USER).toContain('$CI_PIPELINE_ID');
    },
  );

  it("passes GitLab's schema; a broken copy does not", { timeout: 60_000 }, async () => {
    const ok = await gitlabCiLocal(
      scratchRepo(join(scratch, 'gl-schema'), { '.gitlab-ci.yml': readFileSync(GITLAB, 'utf8') }),
      ['--list-all'],
    );
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.all).toMatch(/json schema validated/);
    const broken = readFileSync(GITLAB, 'utf8').replace('  timeout: 10m\n', '  timeout: 10m\n  scripts: [oops]\n');
    const bad = await gitlabCiLocal(scratchRepo(join(scratch, 'gl-broken'), { '.gitlab-ci.yml': broken }), [
      '--list-all',
    ]);
    expect(bad.exitCode, bad.all).not.toBe(0);
    expect(bad.all).toMatch(/scripts/);
  });

  // The whole pipeline, or one job, in a scratch repository (the plan committed after a base commit,
  // as a merge brings it), as gitlab-ci-local runs it with the shell executor and the stand-in baton.
  async function run(
    name: string,
    args: string[],
    opts: { branch?: string; env?: Vars; variables?: Vars; key?: 'file' | 'plain' | 'none' } = {},
  ) {
    const repo = scratchRepo(
      join(scratch, name, 'repo'),
      { '.gitlab-ci.yml': readFileSync(GITLAB, 'utf8'), ...PLAN_FILE },
      { base: DEPLOY_FILES, ...(opts.branch ? { branch: opts.branch } : {}) },
    );
    const env = jobEnv(name, opts.env);
    const how = opts.key ?? 'file';
    const variables: Vars = {
      BATON_PACKAGE: stub,
      BATON_KNOWN_HOSTS: knownHosts,
      ...(how === 'plain' ? { BATON_SSH_KEY: key.private } : {}),
      ...opts.variables,
    };
    const fileVars = join(scratch, name, 'variables.yml');
    writeFileSync(
      fileVars,
      stringify(how === 'file' ? { BATON_SSH_KEY: { type: 'file', values: { '*': key.private } } } : {}),
    );
    const r = await gitlabCiLocal(
      repo,
      [
        '--force-shell-executor',
        '--variables-file',
        fileVars,
        ...Object.entries(variables).flatMap(([k, v]) => ['--variable', `${k}=${v}`]),
        ...args,
      ],
      { env, extendEnv: false },
    );
    const log = existsSync(env.STUB_LOG) ? readFileSync(env.STUB_LOG, 'utf8') : '';
    return { r, repo, env, log, results: jobResults(r.all) };
  }

  it('a merge request pipeline runs plan only, which renders the plan without SSH', { timeout: 60_000 }, async () => {
    const { r, repo, log, results } = await run('gl-mr', ['--variable', 'CI_PIPELINE_SOURCE=merge_request_event'], {
      branch: 'release-v2',
    });
    expect(results, r.all).toEqual({ plan: 'PASS' });
    expect(log).toMatch(
      new RegExp(
        /^baton plan --from deploy\/plans\/production\.json -c deploy\/baton\.yml --format /m.source +
          /markdown\n {2}SSH_AUTH_SOCK=\n/m.source,
        'm',
      ),
    );
    expect(readFileSync(join(repo, '.gitlab-ci-local/artifacts/plan/plan.md'), 'utf8')).toContain('Push v2');
  });

  it(
    'a push to the default branch runs apply only: the key (a File variable) in the agent for apply, ' +
      'status and report; artifacts kept; the key on no disk of the job',
    { timeout: 60_000 },
    async () => {
      const { r, repo, env, log, results } = await run('gl-apply', []);
      expect(results, r.all).toEqual({ apply: 'PASS' });
      for (const command of [
        'apply deploy/plans/production.json -c deploy/baton.yml --lock-wait 10m --format jsonl',
        'status -c deploy/baton.yml',
        'report -c deploy/baton.yml -o baton-report.html',
      ]) {
        const entry = log.split(/^(?=baton )/m).find((e) => e.startsWith(`baton ${command}`));
        expect(entry, `${command}\n${r.all}`).toBeDefined();
        expect(entry).toMatch(new RegExp(`SSH_AUTH_SOCK=${env.HOME}/\\.ssh/baton-agent-\\d+\\.sock`));
        expect(entry).toContain(key.fingerprint);
        expect(entry).toContain('known_hosts mode 600');
        expect(entry).toMatch(/BATON_USER=gitlab\/acme\/shop#\d+/);
      }
      for (const f of ['events.jsonl', 'baton-report.html'])
        expect(existsSync(join(repo, '.gitlab-ci-local/artifacts/apply', f)), f).toBe(true);
      expect(readFileSync(join(env.HOME, '.ssh/known_hosts'), 'utf8').trim()).toBe(knownHosts.trim());
      // The runner's own copy of a File variable is its business (GitLab keeps it beside the project
      // directory); the job put the key nowhere, in the working copy, its artifacts or HOME.
      expect(filesHolding(scratch, key.body, /\/npm-cache\/|\/variables\.yml$/)).toEqual([]);
      expect(
        readdirSync(join(env.HOME, '.ssh')).filter((f) => f.endsWith('.sock')),
        'the agent was stopped',
      ).toEqual([]);
    },
  );

  it(
    'a failed apply fails the job, and after_script still reports with the agent found again',
    { timeout: 60_000 },
    async () => {
      const { r, repo, log, results } = await run('gl-failed', [], { env: { STUB_EXIT: '1' } });
      expect(results, r.all).toEqual({ apply: 'FAIL' });
      expect(r.exitCode).toBe(1);
      expect(log).toMatch(
        new RegExp(
          `baton status -c deploy/baton\\.yml\\n.*\\n {2}agent: 256 ${key.fingerprint.replace(/[+/]/g, '\\$&')}`,
        ),
      );
      expect(existsSync(join(repo, '.gitlab-ci-local/artifacts/apply/baton-report.html'))).toBe(true);
      expect(jobLog(repo, 'apply')).toContain('baton report');
    },
  );

  it(
    'the manual jobs run when asked; the key may also be a plain or a base64 variable',
    { timeout: 60_000 },
    async () => {
      const resume = await run('gl-resume', ['resume'], { key: 'plain' });
      expect(resume.results, resume.r.all).toEqual({ resume: 'PASS' });
      expect(resume.log).toMatch(/^baton resume -c deploy\/baton\.yml --format jsonl\n.*\n {2}agent: 256 /m);
      const base64 = Buffer.from(key.private).toString('base64');
      const rollback = await run('gl-rollback', ['rollback'], { key: 'none', variables: { BATON_SSH_KEY: base64 } });
      expect(rollback.results, rollback.r.all).toEqual({ rollback: 'PASS' });
      expect(rollback.log).toContain(key.fingerprint);
      expect(rollback.log).toMatch(/^baton rollback --yes -c deploy\/baton\.yml --format jsonl$/m);
    },
  );

  it('without BATON_SSH_KEY the job stops before baton runs, saying which variable', { timeout: 60_000 }, async () => {
    const { r, log } = await run('gl-nokey', ['apply'], { key: 'none' });
    expect(jobResults(r.all)).toEqual({ apply: 'FAIL' });
    expect(r.all).toContain('set the CI/CD variable BATON_SSH_KEY');
    expect(log).not.toMatch(/^baton apply/m);
  });
});
