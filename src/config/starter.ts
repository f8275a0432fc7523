// `baton init`: the commented starter baton.yml (templates/baton.yml) and its JSON Schema.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
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
export async function writeStarter(configPath: string, options: { force?: boolean } = {}): Promise<{ config: string; schema: string }> {
  const config = resolve(configPath);
  const schema = join(dirname(config), SCHEMA_FILE_NAME);
  if (existsSync(config) && !options.force) {
    throw new UserError(`${configPath} already exists; not overwriting it`, 'pass --force to replace it with the starter, or edit it and run `baton validate`');
  }
  await mkdir(dirname(config), { recursive: true });
  await writeFile(config, await readFile(join(templatesDir(), 'baton.yml'), 'utf8'));
  await writeFile(schema, batonJsonSchemaText());
  return { config, schema };
}
