import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { quoteArg, quoteArgv } from '../../src/transport/quote.js';

const HOSTILE = [
  'v1;rm -rf /',
  '$(id)',
  '`id`',
  '${HOME}',
  'a b  c',
  "it's",
  `"double" and 'single'`,
  "'",
  "''",
  'line1\nline2\n',
  '\ttab',
  '*',
  '/etc/*',
  '[ab]?',
  '~',
  '~root',
  '',
  'émoji ✓ 😀',
  'a!b',
  '#comment',
  'A=b',
  '=cmd',
  '%1',
  '-n',
  '\\',
  'a|b&c>d<e',
  '{a,b}',
];

// Every shell the hosts might hand the command to must split it back into the same argv.
const SHELLS = ['/bin/sh', '/bin/bash', '/bin/dash'].filter((s) => existsSync(s));

describe('quoteArgv', () => {
  it.each(SHELLS)('round-trips hostile arguments through %s', (shell) => {
    const out = execFileSync(shell, ['-c', quoteArgv(['printf', '%s\\0', ...HOSTILE])], { cwd: '/' });
    expect(out.toString('utf8').split('\0').slice(0, -1)).toEqual(HOSTILE);
  });

  it('leaves plain words alone and quotes everything else', () => {
    expect(quoteArgv(['ln', '-sfn', '/srv/app/releases/v1-abc', '/srv/app/current'])).toBe(
      'ln -sfn /srv/app/releases/v1-abc /srv/app/current',
    );
    expect(quoteArg('')).toBe("''");
    expect(quoteArg("it's")).toBe(`'it'\\''s'`);
    expect(quoteArg('v1;rm -rf /')).toBe("'v1;rm -rf /'");
  });

  it('refuses what no command line can carry', () => {
    expect(() => quoteArgv([])).toThrow(/empty array/);
    expect(() => quoteArg('a\0b')).toThrow(/NUL byte/);
    expect(() => quoteArg(42 as unknown as string)).toThrow(/must be a string, got number/);
  });
});
