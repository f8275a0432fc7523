// `baton init`: the commented starter baton.yml (templates/baton.yml) and its JSON Schema.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { checkEnvironmentName, environmentFile } from './environment.js';
import { batonJsonSchemaText } from './json-schema.js';

/** The file name the starter's `# yaml-language-server: $schema=` line points at. */
export const SCHEMA_FILE_NAME = 'baton.schema.json';

/** templates/ of the installed package, found from this module whether it runs from src/ or dist/src/. */
export function templatesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'templates', 'baton.yml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('templates/baton.yml not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return join(dir, 'templates');
}

/** Writes the starter baton.yml at `configPath` and baton.schema.json beside it; returns both paths. */
export async function writeStarter(
  configPath: string,
  options: { force?: boolean } = {},
): Promise<{ config: string; schema: string }> {
  const config = resolve(configPath);
  const schema = join(dirname(config), SCHEMA_FILE_NAME);
  if (existsSync(config) && !options.force) {
    throw new UserError(
      `${configPath} already exists; not overwriting it`,
      'pass --force to replace it with the starter, or edit it and run `baton validate`',
    );
  }
  await mkdir(dirname(config), { recursive: true });
  await writeFile(config, await readFile(join(templatesDir(), 'baton.yml'), 'utf8'));
  await writeFile(schema, batonJsonSchemaText());
  return { config, schema };
}

/**
 * `baton init -e NAME`: baton.NAME.yml beside an existing baton.yml, saying how it is read and what it could change.
 */
export async function writeEnvironmentStarter(
  configPath: string,
  name: string,
  options: { force?: boolean } = {},
): Promise<{ config: string }> {
  checkEnvironmentName(name);
  if (!existsSync(configPath))
    throw new UserError(
      `no configuration file at ${configPath}: an environment is laid over it`,
      'run `baton init` without -e (and with BATON_ENV unset) first, then `baton init -e NAME`',
    );
  const file = environmentFile(configPath, name);
  if (existsSync(file) && !options.force)
    throw new UserError(
      `${file} already exists; not overwriting it`,
      `pass --force to replace it, or edit it and run \`baton validate -e ${name}\``,
    );
  await writeFile(file, environmentStarter(name));
  return { config: resolve(file) };
}

// No schema line: an editor would ask this file for every key baton.yml already has.
function environmentStarter(name: string): string {
  return [
    `# The ${name} environment: what it changes in baton.yml. \`baton -e ${name} …\` (or BATON_ENV=${name})`,
    '# reads baton.yml with this file laid over it: maps are merged key by key; a list or a value',
    "# here replaces baton.yml's whole. Its release lock and run record are its own (lock.path gets",
    `# -${name} unless this file sets one). Check it with \`baton validate -e ${name}\`, or \`baton validate --all\`.`,
    '#',
    '# balancer:',
    `#   host: lb1.${name}.example.com`,
    '# clusters:',
    `#   a: { internal: ${name}-a.example.com, hosts: [web-1.${name}-a.example.com] }`,
    `#   b: { internal: ${name}-b.example.com, hosts: [web-1.${name}-b.example.com] }`,
    '',
  ].join('\n');
}
