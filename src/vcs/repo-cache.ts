// A repository given as a URL is mirrored into ~/.cache/baton/repos/<hash> and fetched once per
// process, so tags resolve against what the remote has now and nothing needs a working tree.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { UserError } from '../errors.js';

export interface RepoCacheOptions {
  /** Where mirrors live (default: $XDG_CACHE_HOME/baton/repos, else ~/.cache/baton/repos). */
  cacheRoot?: string;
}

/** A URL (`scheme://…`) or scp-like `[user@]host:path`, as opposed to a local path. */
export function isRepoUrl(repo: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return true;
  // git's own rule: a colon before the first slash means host:path, unless the path exists.
  return /^[^/]+:/.test(repo) && !existsSync(repo);
}

export function defaultCacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'baton', 'repos');
}

const fetched = new Map<string, Promise<string>>();

/** Local mirror of `url`, cloned on first use and fetched once per process; returns its path. */
export function openRepo(url: string, opts: RepoCacheOptions = {}): Promise<string> {
  const root = opts.cacheRoot ?? defaultCacheRoot();
  const dir = join(root, createHash('sha256').update(url).digest('hex').slice(0, 16));
  let ready = fetched.get(dir);
  if (!ready) {
    ready = sync(url, root, dir);
    fetched.set(dir, ready);
    ready.catch(() => fetched.delete(dir));
  }
  return ready;
}

async function sync(url: string, root: string, dir: string): Promise<string> {
  try {
    if (existsSync(join(dir, 'HEAD'))) {
      await simpleGit({ baseDir: dir }).raw(['fetch', '--prune', '--quiet', 'origin']);
      return dir;
    }
    await mkdir(root, { recursive: true });
    // Clone beside the final place and rename, so an interrupted clone never looks complete.
    const tmp = await mkdtemp(join(root, '.clone-'));
    try {
      await simpleGit({ baseDir: root }).raw(['clone', '--mirror', '--quiet', '--', url, tmp]);
      await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
        if (!existsSync(join(dir, 'HEAD'))) throw err; // someone else finished first: use theirs
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(
      `cannot fetch git repository ${url}: ${(err as Error).message.trim()}`,
      'check app.repo in baton.yml and that this machine can reach it',
    );
  }
}
