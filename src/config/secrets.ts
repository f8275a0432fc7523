// Secrets are read at run time from where baton.yml says they are; the value never appears
// in a message, a plan or a log.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Config } from './config.js';

export type SecretReference = { env?: string; file?: string };

/** The secret a reference points at: an environment variable or a file (trailing newline dropped). */
export async function resolveSecret(ref: SecretReference, config: Pick<Config, 'dir'>, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined || value === '') throw new UserError(`secret {env: ${ref.env}} is not set`, `export ${ref.env} before running baton`);
    return value;
  }
  if (ref.file !== undefined) {
    const path = resolve(config.dir, ref.file);
    try {
      return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(`secret {file: ${ref.file}} cannot be read (${code ?? 'error'}: ${path})`, 'create the file, readable only by you (chmod 600)');
    }
  }
  throw new UserError('a secret reference needs env or file');
}

/** The named secret from baton.yml's `secrets:` map. */
export async function resolveNamedSecret(name: string, config: Pick<Config, 'dir' | 'secrets'>, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ref = config.secrets[name];
  if (!ref) throw new UserError(`no secret named \`${name}\` in baton.yml`, `add it under secrets: as {env: NAME} or {file: PATH}`);
  return resolveSecret(ref, config, env);
}
