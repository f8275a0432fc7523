// The CI examples under templates/ci, run as written against the lab: each job's shell steps in
// order, with the workflow's and the job's variables, in a checkout holding deploy/baton.yml and
// the reviewed plan. Only the step that installs baton is left out: `baton` is this checkout's,
// on PATH. The CI systems' own actions (checkout, cache, artifacts) are theirs to run, not ours.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { writeLabConfig } from '../../bench/lab-config.js';
import { repoRoot } from '../../bench/repo-root.js';
import { RunEvent } from '../../src/engine/events.js';
import { readyAllHaproxyMembers } from './helpers/lab.js';

type Vars = Record<string, string>;
const INSTALL = /npm install -g/;

let bin: string;

/** A checkout with deploy/baton.yml (the lab's) and deploy/plans/production.json, made by its author. */
async function checkout(tag: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-ci-'));
  mkdirSync(join(dir, 'deploy/plans'), { recursive: true });
  const config = writeLabConfig(join(dir, 'deploy/baton.yml'));
  const made = await execa(join(bin, 'baton'), ['plan', tag, '-c', config, '-o', join(dir, 'deploy/plans/production.json')], { reject: false, env: { CI: '1' } });
  expect(made.exitCode, made.stderr).toBe(0);
  return dir;
}

/** Run one script as the CI system would: bash, stop at the first failing command. */
function shell(script: string, cwd: string, env: Vars) {
  return execa('bash', ['-e', '-c', script], { cwd, reject: false, timeout: 300_000, env: { ...env, PATH: `${bin}:${process.env.PATH}`, CI: 'true' } });
}

function events(file: string): RunEvent[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => RunEvent.parse(JSON.parse(l)));
}

beforeAll(() => {
  readyAllHaproxyMembers();
  bin = mkdtempSync(join(tmpdir(), 'baton-bin-'));
  writeFileSync(join(bin, 'baton'), `#!/bin/sh\nexec node ${JSON.stringify(join(repoRoot(), 'bin/run.js'))} "$@"\n`);
  chmodSync(join(bin, 'baton'), 0o755);
});

describe('templates/ci/github-actions.yml', () => {
  const workflow = parse(readFileSync(join(repoRoot(), 'templates/ci/github-actions.yml'), 'utf8')) as {
    env: Vars;
    jobs: Record<string, { env?: Vars; steps: { run?: string; env?: Vars; uses?: string }[] }>;
  };
  // GitHub's expressions, as the runner would fill them in.
  const expand = (text: string, inputs: Vars) =>
    text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => ({ 'github.repository': 'acme/shop', 'github.run_id': '4242', ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`inputs.${k}`, v])) })[expr] ?? '');

  async function runJob(name: string, dir: string, inputs: Vars = {}) {
    const job = workflow.jobs[name];
    if (!job) throw new Error(`no job ${name}`);
    const summary = join(dir, 'step-summary.md');
    const base = Object.fromEntries(Object.entries({ ...workflow.env, ...job.env }).map(([k, v]) => [k, expand(String(v), inputs)]));
    for (const step of job.steps.filter((s) => s.run && !INSTALL.test(s.run))) {
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v), inputs)]));
      const r = await shell(expand(step.run as string, inputs), dir, { ...base, ...stepEnv, GITHUB_STEP_SUMMARY: summary });
      if (r.exitCode !== 0) return r;
    }
    return { exitCode: 0, stderr: '' };
  }

  it('plan on a pull request renders the reviewed plan into the job summary; apply on merge carries it out; the manual job rolls back', async () => {
    const dir = await checkout('v2');
    const plan = await runJob('plan', dir);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(readFileSync(join(dir, 'step-summary.md'), 'utf8')).toMatch(/v2/);
    expect(existsSync(join(dir, 'plan.md'))).toBe(true);

    const apply = await runJob('apply', dir);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({ event: 'result', exitCode: 0, result: { outcome: 'succeeded', tag: 'v2' } });

    const back = await runJob('recover', dir, { action: 'rollback' });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({ event: 'result', exitCode: 0, result: { kind: 'rollback' } });
  });
});

describe('templates/ci/gitlab-ci.yml', () => {
  const pipeline = parse(readFileSync(join(repoRoot(), 'templates/ci/gitlab-ci.yml'), 'utf8'), { merge: true }) as Record<string, { script?: string[] }> & { variables: Vars };
  const predefined = { CI_PROJECT_PATH: 'acme/shop', CI_PIPELINE_ID: '4242' };

  async function runJob(name: string, dir: string) {
    const job = pipeline[name];
    if (!job?.script) throw new Error(`no job ${name}`);
    const vars = Object.fromEntries(Object.entries(pipeline.variables).map(([k, v]) => [k, String(v).replace(/\$(\w+)/g, (_, n: string) => (predefined as Vars)[n] ?? '')]));
    // GitLab runs a job's script lines in one shell and stops at the first that fails.
    return shell(job.script.filter((l) => !INSTALL.test(l)).join('\n'), dir, { ...predefined, ...vars });
  }

  it('plan renders the reviewed plan; apply carries it out; rollback undoes it; resume finds nothing to resume', async () => {
    const dir = await checkout('v2');
    const plan = await runJob('plan', dir);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(readFileSync(join(dir, 'plan.md'), 'utf8')).toMatch(/v2/);

    const apply = await runJob('apply', dir);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({ event: 'result', exitCode: 0, result: { outcome: 'succeeded' } });

    const back = await runJob('rollback', dir);
    expect(back.exitCode, back.stderr).toBe(0);

    const resume = await runJob('resume', dir);
    expect(resume.exitCode).toBe(64);
    expect(events(join(dir, 'events.jsonl')).at(-1)).toMatchObject({ event: 'result', exitCode: 64, error: { message: expect.stringMatching(/nothing to resume/) } });
  });
});
