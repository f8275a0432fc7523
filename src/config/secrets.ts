// Secrets are read at run time from where baton.yml says they are; the value never appears
// in a message, a plan or a log.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Config } from './config.js';
import { formatPath, isPlainObject, type KeyPath } from './paths.js';

export type SecretReference = { env?: string; file?: string };

/** The secret a reference points at: an environment variable or a file (trailing newline dropped). */
export async function resolveSecret(
  ref: SecretReference,
  config: Pick<Config, 'dir'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined || value === '')
      throw new UserError(`secret {env: ${ref.env}} is not set`, `export ${ref.env} before running baton`);
    return value;
  }
  if (ref.file !== undefined) {
    const path = resolve(config.dir, ref.file);
    try {
      return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(
        `secret {file: ${ref.file}} cannot be read (${code ?? 'error'}: ${path})`,
        'create the file, readable only by you (chmod 600)',
      );
    }
  }
  throw new UserError('a secret reference needs env or file');
}

/** The named secret from baton.yml's `secrets:` map. */
export async function resolveNamedSecret(
  name: string,
  config: Pick<Config, 'dir' | 'secrets'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const ref = config.secrets[name];
  if (!ref)
    throw new UserError(
      `no secret named \`${name}\` in baton.yml`,
      `add it under secrets: as {env: NAME} or {file: PATH}`,
    );
  return resolveSecret(ref, config, env);
}

/** A key that takes a secret (`{secret: NAME}`) and the name it gives. */
export interface SecretUse {
  name: string;
  /** Where it is, e.g. `balancer.managerAuth.password`. */
  key: string;
  path: KeyPath;
}

/** Every `{secret: NAME}` in a configuration (raw baton.yml data or a Config), wherever it is. */
export function secretUses(data: unknown): SecretUse[] {
  const uses: SecretUse[] = [];
  const visit = (node: unknown, path: KeyPath): void => {
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, [...path, i]));
    if (!isPlainObject(node)) return;
    if (isSecretUse(node)) {
      uses.push({ name: node.secret, key: formatPath(path), path });
      return;
    }
    for (const [key, value] of Object.entries(node))
      if (!(path.length === 0 && key === 'secrets')) visit(value, [...path, key]);
  };
  visit(data, []);
  return uses;
}

export function isSecretUse(v: unknown): v is { secret: string } {
  return isPlainObject(v) && typeof v.secret === 'string' && Object.keys(v).length === 1;
}

/**
 * The values a command needs, read once before it connects anywhere. Every secret that cannot
 * be read is named in one UserError, with the keys that use it; no value is ever in a message.
 */
export async function resolveSecrets(
  config: Pick<Config, 'dir' | 'secrets'>,
  uses: readonly SecretUse[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Secrets> {
  const keysOf = new Map<string, string[]>();
  for (const u of uses) keysOf.set(u.name, [...(keysOf.get(u.name) ?? []), u.key]);
  const values = new Map<string, string>();
  const failures: UserError[] = [];
  for (const [name, keys] of keysOf) {
    try {
      values.set(name, await resolveNamedSecret(name, config, env));
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      failures.push(new UserError(`secret \`${name}\` (used by ${keys.join(', ')}): ${err.message}`, err.hint));
    }
  }
  if (failures.length === 1) throw failures[0] as UserError;
  if (failures.length > 1) {
    throw new UserError(
      `${failures.length} secrets cannot be read:\n  ${failures.map((f) => f.message).join('\n  ')}`,
      [...new Set(failures.map((f) => f.hint).filter(Boolean))].join('; '),
    );
  }
  return new Secrets(values);
}

/** Secret values resolved for one command. It never serializes or prints them. */
export class Secrets {
  readonly #values: ReadonlyMap<string, string>;

  constructor(values: ReadonlyMap<string, string> = new Map()) {
    this.#values = values;
  }

  /** The value a `{secret: NAME}` names; one not resolved up front is a bug in baton. */
  value(use: { secret: string }): string {
    const v = this.#values.get(use.secret);
    if (v === undefined) throw new Error(`secret \`${use.secret}\` was not resolved before the run started`);
    return v;
  }

  /** `text` with every secret value replaced by `[secret NAME]`, for anything a server echoes back. */
  redact(text: string): string {
    let out = text;
    for (const [name, v] of this.#values) if (v !== '') out = out.split(v).join(`[secret ${name}]`);
    return out;
  }

  toJSON(): string {
    return '[secrets]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secrets(${[...this.#values.keys()].join(', ')})`;
  }
}
