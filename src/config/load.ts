// baton.yml → Config, or every problem in it at once, each at file:line:col.
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Config } from './config.js';
import { controlCharacterChecks } from './control-values.js';
import { checkText, readConfigFile } from './config-file.js';
import { crossChecks } from './cross-checks.js';
import { findInlineSecrets } from './inline-secrets.js';
import { normalizeConfig, type NormalizeOptions } from './normalize.js';
import { formatPath } from './paths.js';
import { checkSchema } from './schema-check.js';
import { readYaml } from './yaml-source.js';

/** Reads and validates baton.yml; throws UserError when it is missing or not a file, ConfigError when it is wrong. */
export async function loadConfig(file: string, options: NormalizeOptions = {}): Promise<Config> {
  const text = await readConfigFile(file);
  const { config, issues } = parseConfig(text, file, options);
  if (!config) throw new ConfigError(issues);
  return config;
}

/** Validates baton.yml's text; `file` is used in messages and to resolve relative paths. */
export function parseConfig(text: string, file: string, options: NormalizeOptions = {}): { config?: Config; issues: ConfigIssue[] } {
  const textIssues = checkText(text, file);
  if (textIssues.length > 0) return { issues: textIssues };
  const source = readYaml(text, file);
  const issues = [...source.syntaxIssues];
  if (source.broken) return { issues: sortIssues(issues) };

  const { parsed, problems } = checkSchema(source.data);
  const secrets = findInlineSecrets(source.data);
  // An inline secret is reported once, as a secret, not also as an unknown key or a wrong type.
  const secretPaths = new Set(secrets.map((p) => formatPath(p.path)));
  const rest = [...problems, ...crossChecks(source.data), ...controlCharacterChecks(source.data)].filter((p) => !secretPaths.has(formatPath(p.path)));
  issues.push(...[...rest, ...secrets].map(source.locate));
  if (issues.length > 0 || !parsed) return { issues: sortIssues(issues) };
  return { config: normalizeConfig(parsed, file, options), issues: [] };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path));
}
