// `baton validate --all`: baton.yml alone, and with each environment's file laid over it, so a
// change to baton.yml that breaks one environment is caught before that environment's push.
import { ConfigError, formatConfigIssue, type ConfigIssue } from '../errors.js';
import type { Config } from './config.js';
import { environmentFile, listEnvironments } from './environment.js';
import { loadConfig, type LoadOptions } from './load.js';

export interface EnvironmentCheck {
  /** Absent: baton.yml alone. */
  environment?: string;
  /** The files read, baton.yml first. */
  files: string[];
  config?: Config;
  issues: ConfigIssue[];
}

/**
 * Every environment beside `file` checked, baton.yml alone first; throws what loadConfig throws for an unreadable file.
 */
export async function checkAllEnvironments(
  file: string,
  options: Omit<LoadOptions, 'environment'> = {},
): Promise<EnvironmentCheck[]> {
  const checks: EnvironmentCheck[] = [];
  for (const environment of [undefined, ...listEnvironments(file)]) {
    const files = environment === undefined ? [file] : [file, environmentFile(file, environment)];
    const named = environment === undefined ? {} : { environment };
    try {
      checks.push({ ...named, files, config: await loadConfig(file, { ...options, environment }), issues: [] });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      checks.push({ ...named, files, issues: err.issues });
    }
  }
  return checks;
}

/** Each problem once: one in baton.yml is found again under every environment. */
export function distinctIssues(checks: readonly EnvironmentCheck[]): ConfigIssue[] {
  const seen = new Map<string, ConfigIssue>();
  for (const issue of checks.flatMap((c) => c.issues))
    if (!seen.has(formatConfigIssue(issue))) seen.set(formatConfigIssue(issue), issue);
  return [...seen.values()];
}
