// Node ≥ 22.1 keeps the code it compiled for a module between runs (`module.enableCompileCache`):
// every later start skips parsing oclif and baton. bin/run.js turns it on before anything else loads.
// Node 20 has no such cache and goes on as before; a cache that cannot be written costs nothing but
// the time it would have saved, and never stops a command.
import { accessSync, constants, mkdirSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What Node's `module.enableCompileCache` returns (Node ≥ 22.1; @types/node 20 does not declare it). */
interface CompileCacheResult {
  status: number;
  message?: string;
  directory?: string;
}
export type EnableCompileCache = (directory?: string) => CompileCacheResult;

/** Node's `module.constants.compileCacheStatus`: FAILED, and DISABLED by NODE_DISABLE_COMPILE_CACHE=1. */
const FAILED = 0;
const DISABLED = 3;
const outcome = (r: CompileCacheResult) => (r.status === FAILED ? 'failed' : r.status === DISABLED ? 'off' : 'on');

/**
 * Where baton keeps compiled code: beside its other caches, $XDG_CACHE_HOME/baton/compile-cache,
 * else ~/.cache/baton/compile-cache. Undefined when NODE_COMPILE_CACHE names a folder (the
 * operator's choice, which Node reads itself) or no home folder is known (Node then uses the
 * system's temporary folder).
 */
export function compileCacheDir(env: NodeJS.ProcessEnv, home: () => string = homedir): string | undefined {
  if (env.NODE_COMPILE_CACHE) return undefined;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'baton', 'compile-cache');
  let dir: string;
  try {
    dir = home();
  } catch {
    return undefined;
  }
  return dir ? join(dir, '.cache', 'baton', 'compile-cache') : undefined;
}

/**
 * Makes `dir` and the folders above it that are missing, one at a time, and says whether this user
 * can write there. (Node's own recursive mkdir, which enableCompileCache uses, never returns for a
 * path under /proc; and enableCompileCache reports success for a folder it cannot create.)
 */
export function writableDir(dir: string): boolean {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      accessSync(d, constants.F_OK);
      break;
    } catch {
      if (dirname(d) === d) return false;
      missing.unshift(d);
    }
  }
  try {
    for (const d of missing) mkdirSync(d, { mode: 0o700 });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Turns the compile cache on where the runtime has one: in baton's cache folder, else (that folder
 * cannot be written) in Node's default one. Never throws: says what happened, for tests.
 */
export function enableCompileCache(
  env: NodeJS.ProcessEnv = process.env,
  enable: EnableCompileCache | null = (module as { enableCompileCache?: EnableCompileCache }).enableCompileCache ??
    null,
  home: () => string = homedir,
): 'unavailable' | 'on' | 'on-in-default-folder' | 'off' | 'failed' {
  if (!enable) return 'unavailable';
  try {
    const dir = compileCacheDir(env, home);
    if (dir !== undefined && writableDir(dir)) return outcome(enable(dir));
    const r = outcome(enable());
    return r === 'on' ? 'on-in-default-folder' : r;
  } catch {
    return 'failed';
  }
}
