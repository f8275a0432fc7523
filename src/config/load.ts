// baton.yml → Config, or every problem in it at once, each at file:line:col. With an environment,
// baton.NAME.yml is laid over it first, and each problem is placed in the file holding its key.
import { existsSync } from 'node:fs';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Config } from './config.js';
import { controlCharacterChecks } from './control-values.js';
import { checkText, readConfigFile } from './config-file.js';
import { crossChecks } from './cross-checks.js';
import {
  checkEnvironmentName,
  environmentFile,
  inEnvironment,
  layerSources,
  missingEnvironment,
} from './environment.js';
import { findInlineSecrets } from './inline-secrets.js';
import { normalizeConfig, type NormalizeOptions } from './normalize.js';
import { formatPath } from './paths.js';
import { checkSchema } from './schema-check.js';
import { readYaml } from './yaml-source.js';

export interface LoadOptions extends NormalizeOptions {
  /** `-e NAME` / BATON_ENV: lay baton.NAME.yml over baton.yml. */
  environment?: string | undefined;
}

/** The environment's file as text, and its name. */
export interface OverlayText {
  environment: string;
  file: string;
  text: string;
}

export interface ParseOptions extends NormalizeOptions {
  overlay?: OverlayText | undefined;
}

/**
 * Reads and validates baton.yml (and the environment's file); throws UserError when one is missing or not a file,
 * ConfigError when it is wrong.
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  const { environment, ...rest } = options;
  const text = await readConfigFile(file);
  const overlay = environment === undefined ? undefined : await readOverlay(file, environment);
  const { config, issues } = parseConfig(text, file, { ...rest, overlay });
  if (!config) throw new ConfigError(issues);
  return config;
}

/** The environment's file beside `file`; UserError (exit 64) for a name that is no safe word or has no file. */
export async function readOverlay(file: string, environment: string): Promise<OverlayText> {
  checkEnvironmentName(environment);
  const overlayFile = environmentFile(file, environment);
  if (!existsSync(overlayFile)) throw missingEnvironment(file, environment);
  return { environment, file: overlayFile, text: await readConfigFile(overlayFile) };
}

/**
 * Validates baton.yml's text (with an environment's laid over it); `file` is used in messages and to resolve relative
 * paths.
 */
export function parseConfig(
  text: string,
  file: string,
  options: ParseOptions = {},
): { config?: Config; issues: ConfigIssue[] } {
  const { overlay, ...normalize } = options;
  const textIssues = [...checkText(text, file), ...(overlay ? checkText(overlay.text, overlay.file) : [])];
  if (textIssues.length > 0) return { issues: textIssues };
  const base = readYaml(text, file);
  const over = overlay && readYaml(overlay.text, overlay.file);
  const issues = [...base.syntaxIssues, ...(over?.syntaxIssues ?? [])];
  if (base.broken || over?.broken) return { issues: sortIssues(issues, file) };
  const source = over ? layerSources(base, over) : { data: base.data, locate: base.locate, issues: [] };
  issues.push(...source.issues);

  const { parsed, problems } = checkSchema(source.data);
  const secrets = findInlineSecrets(source.data);
  // An inline secret is reported once, as a secret, not also as an unknown key or a wrong type.
  const secretPaths = new Set(secrets.map((p) => formatPath(p.path)));
  const rest = [...problems, ...crossChecks(source.data), ...controlCharacterChecks(source.data)].filter(
    (p) => !secretPaths.has(formatPath(p.path)),
  );
  issues.push(...[...rest, ...secrets].map(source.locate));
  if (issues.length > 0 || !parsed) return { issues: sortIssues(issues, file) };
  const config = normalizeConfig(parsed, file, normalize);
  return { config: overlay && over ? inEnvironment(config, overlay.environment, over.data ?? {}) : config, issues: [] };
}

// baton.yml's problems first, then the environment file's, each by line and column.
function sortIssues(issues: ConfigIssue[], baseFile: string): ConfigIssue[] {
  const rank = (i: ConfigIssue) => (i.file === baseFile ? 0 : 1);
  return issues.sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.col - b.col || a.path.localeCompare(b.path));
}
