// `baton contract` as a user types it (runs the built CLI): irreversible, so it asks or needs --yes,
// and without migrate.contract there is nothing to run (exit 64), before any host is asked.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const baton = (args: string[]) =>
  execa('node', [join(ROOT, 'bin/run.js'), ...args], { cwd: ROOT, reject: false, env: { NO_COLOR: '1' } });

describe('baton contract', { timeout: 60_000 }, () => {
  it('without --yes and without a terminal refuses (exit 64) before reading baton.yml', async () => {
    const r = await baton(['contract', '-c', '/nonexistent/baton.yml']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(
      /contract changes the schema irreversibly, and there is no terminal to ask for confirmation/,
    );
    expect(r.stderr).toMatch(/pass --yes/);
  });

  it('without migrate.contract has nothing to run (exit 64), asking no host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-contract-cli-'));
    const minimal = readFileSync(join(ROOT, 'test/fixtures/config/valid/minimal.yml'), 'utf8');
    writeFileSync(join(dir, 'baton.yml'), `${minimal}migrate:\n  expand: ./manage.py migrate\n`);
    const r = await baton(['contract', '--yes', '-c', join(dir, 'baton.yml')]);
    expect(r.stderr).toMatch(/baton.yml has no migrate.contract: there is no contract command to run/);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it('is listed with what it does', async () => {
    const r = await baton(['contract', '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Irreversible/);
    expect(r.stdout).toMatch(/--yes/);
  });
});
