// The CI examples under templates/ci, run as written against the lab: each job's shell steps in
// order, with the workflow's and the job's variables, in a checkout holding deploy/baton.yml and
// the reviewed plan. Only the step that installs baton is left out: `baton` is this checkout's,
// on PATH. The CI systems' own actions (checkout, artifacts) are theirs to run, not ours. GitHub's
// steps load the lab's key into an agent and its known_hosts into a scratch HOME, from the secrets;
// GitLab's script lines run alone here (its before_script and after_script, the agent, resume from
// another clone: test/integration/ci-gitlab-local.test.ts, under gitlab-ci-local, in the fault suite).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { writeLabConfig } from '../../bench/lab-config.js';
import { repoRoot } from '../../bench/repo-root.js';
import { RunEvent } from '../../src/engine/events.js';
import { runGithubJob, type Workflow } from '../helpers/github-steps.js';
import { LAB_KEY, LAB_KNOWN_HOSTS } from './helpers/ci-lab.js';
import { currentReleases, readyAllHaproxyMembers } from './helpers/lab.js';

/**
 * The tag the lab does not run now: a push of it changes every host, so the rollback after it has somewhere to go back
 * to.
 */
async function otherTag(): Promise<string> {
  const now = Object.values(await currentReleases())[0]!.replace(/-[0-9a-f]{7,}$/, '');
  return now === 'v2' ? 'v1' : 'v2';
}

type Vars = Record<string, string>;
const INSTALL = /npm install -g/;

let bin: string;

/** A checkout with deploy/baton.yml (the lab's) and deploy/plans/production.json, made by its author. */
async function checkout(tag: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-ci-'));
  mkdirSync(join(dir, 'deploy/plans'), { recursive: true });
  const config = writeLabConfig(join(dir, 'deploy/baton.yml'));
  const made = await execa(
    join(bin, 'baton'),
    ['plan', tag, '-c', config, '-o', join(dir, 'deploy/plans/production.json')],
    { reject: false, env: { CI: '1' } },
  );
  expect(made.exitCode, made.stderr).toBe(0);
  return dir;
}

/** Run one script as the CI system would: bash, stop at the first failing command. */
function shell(script: string, cwd: string, env: Vars) {
  return execa('bash', ['-e', '-c', script], {
    cwd,
    reject: false,
    timeout: 300_000,
    env: { ...env, PATH: `${bin}:${process.env.PATH}`, CI: 'true' },
  });
}

function events(file: string): RunEvent[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => RunEvent.parse(JSON.parse(l)));
}

beforeAll(() => {
  readyAllHaproxyMembers();
  bin = mkdtempSync(join(tmpdir(), 'baton-bin-'));
  writeFileSync(join(bin, 'baton'), `#!/bin/sh\nexec node ${JSON.stringify(join(repoRoot(), 'bin/run.js'))} "$@"\n`);
  chmodSync(join(bin, 'baton'), 0o755);
});

describe('templates/ci/github-actions.yml', () => {
  const workflow = parse(readFileSync(join(repoRoot(), 'templates/ci/github-actions.yml'), 'utf8')) as Workflow;

  // The job's `run` steps as GitHub's runner would (test/helpers/github-steps.ts): the deploy key and
  // known_hosts from the secrets into an agent and a scratch HOME's ~/.ssh, status and report after.
  async function runJob(name: string, dir: string, inputs: Vars = {}) {
    const context: Vars = {
      'github.repository': 'acme/shop',
      'github.run_id': '4242',
      'secrets.BATON_SSH_KEY': readFileSync(LAB_KEY, 'utf8'),
      'secrets.BATON_KNOWN_HOSTS': readFileSync(LAB_KNOWN_HOSTS, 'utf8'),
      ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`inputs.${k}`, v])),
    };
    const home = mkdtempSync(join(tmpdir(), 'baton-ci-home-'));
    const runnerTemp = join(home, 'runner-temp');
    const { ran, failed } = await runGithubJob(workflow, name, {
      dir,
      context,
      runnerTemp,
      skip: INSTALL,
      env: { ...(process.env as Vars), HOME: home, PATH: `${bin}:${process.env.PATH}` },
    });
    const bad = ran.find((r) => r.exitCode !== 0);
    return {
      exitCode: failed ? (bad?.exitCode ?? 1) : 0,
      stderr: ran.map((r) => `${r.name}: ${r.all}`).join('\n'),
      summary: join(runnerTemp, 'step-summary.md'),
    };
  }

  it(
    'plan on a pull request renders the reviewed plan into the job summary; apply on merge carries it out; ' +
      'the manual job rolls back',
    async () => {
      const tag = await otherTag();
      const dir = await checkout(tag);
      const plan = await runJob('plan', dir);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(readFileSync(plan.summary, 'utf8')).toMatch(new RegExp(tag));
      expect(existsSync(join(dir, 'plan.md'))).toBe(true);

      const apply = await runJob('apply', dir);
      expect(apply.exitCode, apply.stderr).toBe(0);
      expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 0,
        result: { outcome: 'succeeded', tag },
      });

      expect(existsSync(join(dir, 'baton-report.html')), 'the report written after apply').toBe(true);

      const back = await runJob('recover', dir, { action: 'rollback' });
      expect(back.exitCode, back.stderr).toBe(0);
      expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 0,
        result: { kind: 'rollback' },
      });
    },
  );
});

describe('templates/ci/gitlab-ci.yml', () => {
  const pipeline = parse(readFileSync(join(repoRoot(), 'templates/ci/gitlab-ci.yml'), 'utf8'), {
    merge: true,
  }) as Record<string, { script?: string[] }> & { variables: Vars };
  const predefined = { CI_PROJECT_PATH: 'acme/shop', CI_PIPELINE_ID: '4242' };

  async function runJob(name: string, dir: string) {
    const job = pipeline[name];
    if (!job?.script) throw new Error(`no job ${name}`);
    const vars = Object.fromEntries(
      Object.entries(pipeline.variables).map(([k, v]) => [
        k,
        String(v).replace(/\$(\w+)/g, (_, n: string) => (predefined as Vars)[n] ?? ''),
      ]),
    );
    // GitLab runs a job's script lines in one shell and stops at the first that fails.
    return shell(job.script.filter((l) => !INSTALL.test(l)).join('\n'), dir, { ...predefined, ...vars });
  }

  it(
    'plan renders the reviewed plan; apply carries it out; ' + 'rollback undoes it; resume finds nothing to resume',
    async () => {
      const tag = await otherTag();
      const dir = await checkout(tag);
      const plan = await runJob('plan', dir);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(readFileSync(join(dir, 'plan.md'), 'utf8')).toMatch(new RegExp(tag));

      const apply = await runJob('apply', dir);
      expect(apply.exitCode, apply.stderr).toBe(0);
      expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 0,
        result: { outcome: 'succeeded' },
      });

      const back = await runJob('rollback', dir);
      expect(back.exitCode, back.stderr).toBe(0);

      const resume = await runJob('resume', dir);
      expect(resume.exitCode).toBe(64);
      expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({
        event: 'result',
        exitCode: 64,
        error: { message: expect.stringMatching(/nothing to resume/) },
      });
    },
  );
});
