// Environments, as Kamal's destinations: `-e staging` reads baton.yml with baton.staging.yml laid
// over it (maps merged key by key, lists and values replaced), every problem placed in the file
// that holds its key, and the release lock and run record kept apart from every other environment's.
import { readdirSync } from 'node:fs';
import { basename, dirname, extname } from 'node:path';
import { UserError, type ConfigIssue } from '../errors.js';
import type { Config } from './config.js';
import { isPlainObject, valueAt, type KeyPath } from './paths.js';
import type { Problem } from './problem.js';
import type { YamlSource } from './yaml-source.js';

/** What an environment may be called: it becomes part of a file name and of paths on the balancer host. */
export const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const MAX_NAME = 40;

/** Refuses (exit 64) a name that is not a safe word. */
export function checkEnvironmentName(name: string): void {
  if (ENVIRONMENT_NAME.test(name) && name.length <= MAX_NAME) return;
  throw new UserError(
    `${JSON.stringify(name.slice(0, MAX_NAME + 10))} is not an environment name: it is lower-case letters, ` +
      `digits, \`-\` and \`_\`, starting with a letter or digit, at most ${MAX_NAME} characters`,
    'name the environment as its file does: baton.NAME.yml',
  );
}

/** The environment's file beside the configuration: baton.yml → baton.staging.yml. */
export function environmentFile(file: string, name: string): string {
  const ext = extname(file);
  return `${ext ? file.slice(0, -ext.length) : file}.${name}${ext}`;
}

/** Environments that have a file beside the configuration, sorted. */
export function listEnvironments(file: string): string[] {
  const ext = extname(file);
  const stem = basename(file, ext);
  let names: string[];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return [];
  }
  return names
    .filter((f) => f.startsWith(`${stem}.`) && f.endsWith(ext) && f.length > stem.length + ext.length + 1)
    .map((f) => f.slice(stem.length + 1, f.length - ext.length))
    .filter((name) => ENVIRONMENT_NAME.test(name) && name.length <= MAX_NAME)
    .sort();
}

/** Refuses (exit 64) an environment that has no file, naming the ones there are. */
export function missingEnvironment(file: string, name: string): UserError {
  const found = listEnvironments(file);
  const there = found.length ? `environments beside it: ${found.join(', ')}` : 'there is no environment file beside it';
  return new UserError(
    `no environment ${JSON.stringify(name)}: ${environmentFile(file, name)} does not exist (${there})`,
    `write ${basename(environmentFile(file, name))} with the keys that differ from ${basename(file)}, ` +
      'or pick one of those found',
  );
}

/** baton.yml's data with the environment's laid over it: maps merged key by key, anything else replaced. */
export function overlayData(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  // fromEntries defines own keys: a key named __proto__ stays a key, never a prototype.
  const merged = new Map(Object.entries(base));
  for (const [key, value] of Object.entries(overlay))
    merged.set(key, Object.hasOwn(base, key) ? overlayData(base[key], value) : value);
  return Object.fromEntries(merged);
}

/** True when the value at path comes from the overlay: it sets that key, or replaced a list or value above it. */
export function fromOverlay(overlay: unknown, path: KeyPath): boolean {
  if (path.length === 0) return false;
  let at = overlay;
  for (const seg of path) {
    if (!isPlainObject(at)) return true;
    if (typeof seg !== 'string' || !Object.hasOwn(at, seg)) return false;
    at = at[seg];
  }
  return true;
}

export interface Layered {
  data: unknown;
  locate(problem: Problem): ConfigIssue;
  issues: ConfigIssue[];
}

/** The two files as one document whose problems are each placed in the file that holds the key. */
export function layerSources(base: YamlSource, overlay: YamlSource): Layered {
  const issues: ConfigIssue[] = [];
  let over = overlay.data ?? {}; // a file of comments only changes nothing
  if (!isPlainObject(over)) {
    issues.push(
      overlay.locate({
        path: [],
        message:
          `an environment file is a map of the keys it changes in ${basename(base.file)}, ` +
          `not ${Array.isArray(over) ? 'a list' : 'a single value'}`,
      }),
    );
    over = {};
  }
  const locate = (p: Problem): ConfigIssue => {
    // A missing key is missing from both: it belongs in the base file's map when that has one.
    if (p.at === 'parent') return (valueAt(base.data, p.path.slice(0, -1)) !== undefined ? base : overlay).locate(p);
    return (fromOverlay(over, p.path) ? overlay : base).locate(p);
  };
  return { data: overlayData(base.data, over), locate, issues };
}

/**
 * A name or path kept apart per environment: `/var/lib/baton/lock` → `/var/lib/baton/lock-staging`; unchanged without
 * one.
 */
export function scopedToEnvironment(path: string, environment: string | undefined): string {
  return environment ? `${path.replace(/(.)\/+$/, '$1')}-${environment}` : path;
}

/**
 * The configuration as the environment uses it: the release lock and an explicit run record
 * folder get the environment's name unless its own file sets them, so two environments behind
 * one balancer host never share a lock or a record (the record's default follows from
 * recordDir). Only paths written in the environment's file are taken as they are.
 */
export function inEnvironment(config: Config, environment: string, overlay: unknown): Config {
  const sets = (path: KeyPath) => valueAt(overlay, path) !== undefined;
  const { path: recordPath } = config.record;
  return {
    ...config,
    environment,
    environmentFile: environmentFile(config.file, environment),
    lock: sets(['lock', 'path'])
      ? config.lock
      : { ...config.lock, path: scopedToEnvironment(config.lock.path, environment) },
    record:
      sets(['record', 'path']) || recordPath === undefined
        ? config.record
        : { ...config.record, path: scopedToEnvironment(recordPath, environment) },
  };
}
