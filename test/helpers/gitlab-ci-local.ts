// gitlab-ci-local (a devDependency) runs a .gitlab-ci.yml the way GitLab would (rules, stages,
// manual jobs, extends, anchors, before_script/after_script, artifacts), here always with the shell
// executor: `--force-shell-executor` (`--shell-executor-no-image` only covers jobs without an
// `image:`, and our template names node:24). What it needs and does, learnt from 4.75.1:
//
//   * a git repository in --cwd with at least one commit. Only tracked files count for some
//     features; the remote `origin` names the project (CI_PROJECT_PATH) and origin's HEAD the
//     default branch (else it warns and takes `main`); CI_COMMIT_BRANCH is the checked-out branch.
//   * `rules: changes` are compared with `git diff origin/<default branch>`: without that ref it
//     fails, so either give the repository an origin ref to diff against, or pass
//     --no-evaluate-rule-changes (every `changes:` then matches).
//   * no job named: the whole pipeline as its rules make it (manual jobs left out unless
//     --manual NAME); a job named: that job only, whatever its rules say (manual ones too).
//   * --variable K=V adds a CI/CD variable (CI_PIPELINE_SOURCE=merge_request_event makes a merge
//     request pipeline, with a warning about overriding a predefined variable); --variables-file
//     takes a YAML file where `{type: file, values: {'*': …}}` makes a File-type variable (written
//     under /tmp/gitlab-ci-local-file-variables-*, never removed: tests clean up after it).
//     The jobs also inherit this process's environment (HOME, PATH, …).
//   * shell jobs run in --cwd itself; artifacts are copied to .gitlab-ci-local/artifacts/<job>/
//     (and to the working copy); each job's log goes to .gitlab-ci-local/output/<job>.log.
//   * it exits 1 if any job failed, 0 otherwise (not the job's own exit code). On SIGTERM it exits
//     at once (143) without running after_script; the job's processes are in its process group.
//
// 4.75.1's bundle calls Set.prototype.union and friends (Node 22+): on an older Node the seven Set
// methods are added before it loads.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../bench/repo-root.js';

export const GITLAB_CI_LOCAL = join(repoRoot(), 'node_modules/gitlab-ci-local/dist/index.js');

const SET_METHODS = `
const P = Set.prototype;
const def = (n, f) => { if (!P[n]) Object.defineProperty(P, n, { value: f, writable: true, configurable: true }); };
def('union', function (o) { const r = new Set(this); for (const v of o.keys()) r.add(v); return r; });
def('intersection', function (o) { const r = new Set(); for (const v of this) if (o.has(v)) r.add(v); return r; });
def('difference', function (o) { const r = new Set(); for (const v of this) if (!o.has(v)) r.add(v); return r; });
def('symmetricDifference', function (o) { const r = new Set(this); \
for (const v of o.keys()) { if (this.has(v)) r.delete(v); else r.add(v); } return r; });
def('isSubsetOf', function (o) { for (const v of this) if (!o.has(v)) return false; return true; });
def('isSupersetOf', function (o) { for (const v of o.keys()) if (!this.has(v)) return false; return true; });
def('isDisjointFrom', function (o) { for (const v of this) if (o.has(v)) return false; return true; });
`;

/** The node arguments that run gitlab-ci-local with `args` (the Set methods first where this Node lacks them). */
export function gitlabCiLocalArgv(args: string[]): string[] {
  const polyfill =
    'union' in Set.prototype ? [] : ['--import', `data:text/javascript,${encodeURIComponent(SET_METHODS)}`];
  return [...polyfill, GITLAB_CI_LOCAL, '--no-color', ...args];
}

export interface GitlabCiLocalOptions {
  /** The environment of gitlab-ci-local, which its shell jobs inherit. */
  env?: Record<string, string>;
  /** Whether `env` adds to this process's environment (default) or replaces it. */
  extendEnv?: boolean;
  timeout?: number;
}

/** Run gitlab-ci-local in `cwd`; never rejects: its exit code (1 when a job failed) and its output. */
export async function gitlabCiLocal(
  cwd: string,
  args: string[],
  options: GitlabCiLocalOptions = {},
): Promise<{ exitCode: number; all: string }> {
  const r = await execa(process.execPath, gitlabCiLocalArgv(args), {
    cwd,
    reject: false,
    all: true,
    timeout: options.timeout ?? 120_000,
    extendEnv: options.extendEnv ?? true,
    ...(options.env ? { env: options.env } : {}),
  });
  return { exitCode: r.exitCode ?? -1, all: r.all };
}

export interface ScratchRepoOptions {
  /** The branch checked out (default main, also the default branch). */
  branch?: string;
  /** Files of a first commit on main, which origin/main points at (what `rules: changes` diff against). */
  base?: Record<string, string>;
}

/**
 * A git repository as gitlab-ci-local wants one: origin named like a GitLab project, origin/HEAD
 * naming main, `files` committed (after `base`, if given, which origin/main then points at).
 */
export function scratchRepo(dir: string, files: Record<string, string>, opts: ScratchRepoOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'ci',
        GIT_AUTHOR_EMAIL: 'ci@example.com',
        GIT_COMMITTER_NAME: 'ci',
        GIT_COMMITTER_EMAIL: 'ci@example.com',
      },
    });
  const write = (set: Record<string, string>) => {
    for (const [path, text] of Object.entries(set)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  };
  git('init', '-q', '-b', 'main');
  git('remote', 'add', 'origin', 'https://gitlab.example.com/acme/shop.git');
  if (opts.base) {
    write(opts.base);
    git('add', '-A');
    git('commit', '-q', '-m', 'base');
  }
  write(files);
  git('add', '-A');
  git('commit', '-q', '--allow-empty', '-m', 'change');
  git('update-ref', 'refs/remotes/origin/main', opts.base ? 'HEAD~1' : 'HEAD');
  git('symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main');
  if (opts.branch && opts.branch !== 'main') git('checkout', '-q', '-b', opts.branch);
  return dir;
}

/** A job's log as gitlab-ci-local kept it. */
export function jobLog(repo: string, job: string): string {
  return readFileSync(join(repo, '.gitlab-ci-local/output', `${job}.log`), 'utf8');
}

/** The jobs gitlab-ci-local says passed or failed in its summary. */
export function jobResults(all: string): Record<string, 'PASS' | 'FAIL'> {
  return Object.fromEntries(
    [...all.matchAll(/^\s*(PASS|FAIL)\s+(\S+)/gm)].map((m) => [m[2] as string, m[1] as 'PASS' | 'FAIL']),
  );
}

/** The File-type variable folders gitlab-ci-local leaves under /tmp, by name. */
export function fileVariableDirs(): Set<string> {
  return new Set(readdirSync('/tmp').filter((d) => d.startsWith('gitlab-ci-local-file-variables-')));
}

/** Remove the File-type variable folders that appeared since `before` (they hold the variables' values). */
export function removeFileVariableDirs(before: Set<string>): void {
  for (const d of fileVariableDirs()) if (!before.has(d)) rmSync(join('/tmp', d), { recursive: true, force: true });
}

/**
 * Stop the ssh-agents the CI templates started under `dir` (a test's scratch folder), by the pid each
 * recorded: GitLab's beside its socket (<socket>.env), GitHub's in $GITHUB_ENV. A job that never
 * reached its after_script (or its last step) leaves one running; only a pid that is still an
 * ssh-agent is signalled.
 */
export function stopAgentsUnder(dir: string): void {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !(entry.name.endsWith('.sock.env') || entry.name === 'github-env')) continue;
    for (const m of readFileSync(join(entry.parentPath, entry.name), 'utf8').matchAll(/SSH_AGENT_PID=(\d+)/g)) {
      const pid = Number(m[1]);
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ssh-agent') process.kill(pid);
      } catch {
        // gone already
      }
    }
  }
}
