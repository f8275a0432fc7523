// A GitHub Actions job's `run` steps carried out here as the runner would: in order, each with
// `bash --noprofile --norc -eo pipefail` (the workflow's `defaults.run.shell: bash`), the
// workflow's, job's and step's `env:` with `${{ … }}` filled in from a context (secrets, inputs,
// github.*), lines appended to $GITHUB_ENV carried to later steps, and once a step failed only
// those whose `if:` says always() or failure() still run. `uses:` steps are GitHub's (checkout,
// setup-node, upload-artifact): they are skipped, and so are steps a caller names.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

type Vars = Record<string, string>;

export interface WorkflowStep {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Vars;
  with?: Record<string, unknown>;
}
export interface WorkflowJob {
  if?: string;
  'runs-on': string;
  'timeout-minutes'?: number;
  environment?: string;
  env?: Vars;
  steps: WorkflowStep[];
}
export interface Workflow {
  on: unknown;
  permissions: unknown;
  concurrency: { group: string; 'cancel-in-progress': boolean };
  env: Vars;
  jobs: Record<string, WorkflowJob>;
}

export interface GithubJobOptions {
  /** The workspace (the checkout). */
  dir: string;
  /** The runner's environment (HOME, PATH, …), and your edits to the workflow's env (BATON_PACKAGE). */
  env: Vars;
  /** `${{ name }}` values: 'secrets.X', 'inputs.Y', 'github.run_id', … (unknown ones are empty, as on GitHub). */
  context: Vars;
  /** The runner's temp folder (RUNNER_TEMP), outside the workspace. */
  runnerTemp: string;
  /** Steps left out (e.g. the one that installs baton, where baton is already on PATH). */
  skip?: RegExp;
  timeout?: number;
}

export interface StepRun {
  name: string;
  exitCode: number;
  all: string;
}

export async function runGithubJob(
  workflow: Workflow,
  name: string,
  o: GithubJobOptions,
): Promise<{ ran: StepRun[]; failed: boolean }> {
  const job = workflow.jobs[name];
  if (!job) throw new Error(`no job ${name}`);
  const expand = (text: string) => text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, e: string) => o.context[e] ?? '');
  const vars = (v: Vars = {}) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(String(x))]));
  mkdirSync(o.runnerTemp, { recursive: true });
  const githubEnv = join(o.runnerTemp, 'github-env');
  writeFileSync(githubEnv, '');
  let failed = false;
  const ran: StepRun[] = [];
  for (const step of job.steps) {
    if (!step.run || o.skip?.test(step.run)) continue;
    if (failed ? !/always\(\)|failure\(\)/.test(step.if ?? '') : /^failure\(\)$/.test(step.if ?? '')) continue;
    const carried = Object.fromEntries(
      readFileSync(githubEnv, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const r = await execa('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', expand(step.run)], {
      cwd: o.dir,
      reject: false,
      all: true,
      extendEnv: false,
      timeout: o.timeout ?? 300_000,
      env: {
        ...vars(workflow.env),
        ...vars(job.env),
        ...o.env,
        ...carried,
        ...vars(step.env),
        RUNNER_TEMP: o.runnerTemp,
        GITHUB_ENV: githubEnv,
        GITHUB_STEP_SUMMARY: join(o.runnerTemp, 'step-summary.md'),
        GITHUB_ACTIONS: 'true',
        CI: 'true',
      },
    });
    ran.push({ name: step.name ?? (step.run.split('\n')[0] as string), exitCode: r.exitCode ?? -1, all: r.all });
    if (r.exitCode !== 0) failed = true;
  }
  return { ran, failed };
}
