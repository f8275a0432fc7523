import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { ConfigError, UserError } from '../../src/errors.js';
import { INVALID } from '../fixtures/config/invalid-corpus.js';

const DIR = join(import.meta.dirname, '../fixtures/config/invalid');

describe('invalid baton.yml corpus', () => {
  it('has at least 30 fixtures, and an expectation for every one', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.yml'))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(30);
    expect(INVALID.map((f) => f.file).sort()).toEqual(files);
  });

  it.each(INVALID)('$file is answered at the exact line and column', ({ file, issues: expected }) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const { config, issues } = parseConfig(text, `fixtures/${file}`);
    expect(config).toBeUndefined();
    expect(issues.map((i) => ({ line: i.line, col: i.col, path: i.path }))).toEqual(
      expected.map(({ line, col, path }) => ({ line, col, path })),
    );
    issues.forEach((issue, n) => {
      expect(issue.file).toBe(`fixtures/${file}`);
      expect(issue.message).toMatch(expected[n]!.message);
    });
  });
});

describe('messages about secrets', () => {
  it('never repeat the secret back', () => {
    for (const file of ['inline-secret-password.yml', 'inline-secret-named.yml', 'inline-secret-tsigkey.yml']) {
      const text = readFileSync(join(DIR, file), 'utf8');
      const messages = parseConfig(text, file)
        .issues.map((i) => i.message)
        .join('\n');
      expect(messages).not.toMatch(/hunter2|c2VjcmV0LWtleQ/);
    }
  });

  it('do not flag user-chosen names in free-form maps', () => {
    const base = readFileSync(join(import.meta.dirname, '../fixtures/config/valid/minimal.yml'), 'utf8');
    const text =
      `${base}smoke:\n  - { path: /, header: { X-Api-Key: public-marker } }\nresolve:\n  token.example.com: ` +
      `10.0.0.9\n`;
    expect(parseConfig(text, 'baton.yml').issues).toEqual([]);
  });
});

describe('loadConfig', () => {
  it('throws ConfigError carrying every issue', async () => {
    const err = await loadConfig(join(DIR, 'multiple-errors.yml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toHaveLength(5);
    expect((err as ConfigError).exitCode).toBe(64);
    expect((err as ConfigError).message.split('\n')[0]).toMatch(
      /multiple-errors\.yml:4:9: app\.path: expected an absolute path/,
    );
  });

  it('names a missing file and suggests baton init', async () => {
    const err = await loadConfig(join(DIR, 'no-such-file.yml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain('no-such-file.yml');
    expect((err as UserError).hint).toContain('baton init');
    expect((err as UserError).exitCode).toBe(64);
  });
});
