// One git command in a repository, as a process of its own (argv, never a shell): what the control
// side asks of the app's repository. simple-git did this before: loading it and its per-call
// argument checks cost ~50 ms of CPU before a push's first step (Node 24, bench:first-step's
// profile), for the ~8 commands that resolve and export a tag.
import { execFile } from 'node:child_process';

export interface GitIn {
  /** git's stdout; rejects on a non-zero exit with an Error whose message is what git wrote (stdout, then stderr). */
  raw(args: readonly string[]): Promise<string>;
}

export function gitIn(dir: string): GitIn {
  return {
    raw: (args) =>
      new Promise((resolve, reject) => {
        execFile(
          'git',
          args,
          { cwd: dir, encoding: 'utf8', maxBuffer: Infinity, windowsHide: true },
          (err, stdout, stderr) => {
            if (!err) return resolve(stdout);
            const said = `${stdout}${stderr}`.trim();
            reject(new Error(said || err.message));
          },
        );
      }),
  };
}
