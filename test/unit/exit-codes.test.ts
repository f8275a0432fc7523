import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE_MEANINGS, ExitCode } from '../../src/errors.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('exit codes', () => {
  const readme = readFileSync('README.md', 'utf8');
  const code = ['src', 'commands', 'plans']
    .flatMap(sources)
    .filter((f) => !f.endsWith('errors.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const errorsTs = readFileSync('src/errors.ts', 'utf8');

  for (const [name, value] of Object.entries(ExitCode)) {
    it(`${value} (${name}) is documented in the README and in help`, () => {
      expect(readme).toMatch(new RegExp(`^\\|\\s*${value}\\s*\\|`, 'm'));
      expect(EXIT_CODE_MEANINGS[value]).toBeTruthy();
    });

    // Success is the absence of an error: the `exit-codes --json` case below checks that a command exits 0.
    if (value === ExitCode.OK) continue;
    it(`${value} (${name}) is used`, () => {
      // Used directly, or by an error kind whose constructor picks it.
      const direct = new RegExp(`ExitCode\\.${name}\\b`).test(code);
      const byErrorKind = new RegExp(`ExitCode\\.${name}\\b`).test(
        errorsTs.replace(/export const ExitCode = \{[\s\S]*?\} as const;/, ''),
      );
      expect(direct || byErrorKind).toBe(true);
    });
  }

  it('the README documents no code the CLI does not have', () => {
    const table = readme.slice(readme.indexOf('## Exit codes'));
    const documented = [...table.matchAll(/^\|\s*(\d+)\s*\|/gm)].map((m) => Number(m[1]));
    expect(documented.sort((a, b) => a - b)).toEqual(Object.values(ExitCode).sort((a, b) => a - b));
  });

  it('`baton exit-codes --json` prints the same map and exits 0', async () => {
    const r = await execa('node', ['bin/run.js', 'exit-codes', '--json']);
    expect(r.exitCode).toBe(ExitCode.OK);
    expect(JSON.parse(r.stdout)).toEqual(Object.fromEntries(Object.entries(EXIT_CODE_MEANINGS)));
  });

  it('`baton --help` lists every code with its meaning', async () => {
    const help = (await execa('node', ['bin/run.js', '--help'])).stdout;
    for (const [code, meaning] of Object.entries(EXIT_CODE_MEANINGS))
      expect(help).toMatch(new RegExp(`^\\s*${code}\\s+${meaning.replace(/[()]/g, '\\$&')}$`, 'm'));
  });

  it('a usage error exits 64 and says what was wrong', async () => {
    const r = await execa('node', ['bin/run.js', 'exit-codes', '--no-such-flag'], { reject: false });
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/Nonexistent flag: --no-such-flag/);
  });
});
