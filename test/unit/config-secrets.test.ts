import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveNamedSecret, resolveSecret } from '../../src/config/secrets.js';
import { UserError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'baton-secrets-'));
writeFileSync(join(dir, 'db.pass'), 's3cret-from-file\n');

describe('resolveSecret', () => {
  it('reads an environment variable', async () => {
    expect(await resolveSecret({ env: 'DB_PASS' }, { dir }, { DB_PASS: 's3cret-from-env' })).toBe('s3cret-from-env');
  });

  it('reads a file relative to baton.yml, without its trailing newline', async () => {
    expect(await resolveSecret({ file: 'db.pass' }, { dir }, {})).toBe('s3cret-from-file');
    expect(await resolveSecret({ file: join(dir, 'db.pass') }, { dir: '/' }, {})).toBe('s3cret-from-file');
  });

  it('names the reference when the variable is unset', async () => {
    const err = await resolveSecret({ env: 'DB_PASS' }, { dir }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe('secret {env: DB_PASS} is not set');
  });

  it('names the reference when the file is missing', async () => {
    const err = await resolveSecret({ file: 'missing.pass' }, { dir }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(/^secret \{file: missing\.pass\} cannot be read \(ENOENT/);
  });

  it('resolves a named secret from the config and refuses an unknown name', async () => {
    const config = { dir, secrets: { db: { file: join(dir, 'db.pass') } } };
    expect(await resolveNamedSecret('db', config, {})).toBe('s3cret-from-file');
    await expect(resolveNamedSecret('nope', config, {})).rejects.toThrow(/no secret named `nope`/);
  });
});
