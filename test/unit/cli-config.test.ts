// Runs the built CLI (npm test builds first): init, validate and schema as a user would.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/run.js');
const baton = (args: string[], cwd = ROOT) =>
  execa('node', [BIN, ...args], { cwd, reject: false, env: { NO_COLOR: '1' } });
const INVALID = join(ROOT, 'test/fixtures/config/invalid');

describe('baton validate', { timeout: 60_000 }, () => {
  it('--json gives the errors as data and exits 64', async () => {
    const r = await baton(['validate', '-c', join(INVALID, 'multiple-errors.yml'), '--json']);
    expect(r.exitCode).toBe(64);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: Array<Record<string, unknown>> };
    expect(out.valid).toBe(false);
    expect(out.errors).toHaveLength(5);
    expect(out.errors[1]).toEqual({
      file: join(INVALID, 'multiple-errors.yml'),
      line: 10,
      col: 17,
      path: 'balancer.drainTimeout',
      message: 'expected a duration such as 500ms, 60s or 2m',
    });
  });

  it('prints file:line:col: path: message to stderr and exits 64', async () => {
    const r = await baton(['validate', '-c', 'test/fixtures/config/invalid/wrong-driver-key-socket.yml']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain(
      'test/fixtures/config/invalid/wrong-driver-key-socket.yml:11:3: balancer.socket: ' +
        '`socket` is for the haproxy driver, not apache',
    );
    expect(r.stdout).toBe('');
  });

  it('summarizes a valid file', async () => {
    const r = await baton(['validate', '-c', 'test/fixtures/config/valid/apache.yml']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      'test/fixtures/config/valid/apache.yml is valid: app blog, 2+2 hosts, ' +
        'balancer apache on lb1.example.com (backend blogcluster), 1 smoke check',
    );
  });

  it('--json on a valid file says valid', async () => {
    const r = await baton(['validate', '-c', 'test/fixtures/config/valid/minimal.yml', '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, errors: [] });
  });

  it('a missing file is a usage error that points at baton init', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
    const r = await baton(['validate'], dir);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('no configuration file at baton.yml');
    expect(r.stderr).toContain('baton init');
  });
});

describe('baton init', { timeout: 60_000 }, () => {
  it('writes a starter that validates, with its schema beside it, and refuses to overwrite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
    const first = await baton(['init'], dir);
    expect(first.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'baton.yml'), 'utf8')).toMatch(
      /^# yaml-language-server: \$schema=\.\/baton\.schema\.json\n/,
    );
    expect(readFileSync(join(dir, 'baton.schema.json'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'templates/baton.schema.json'), 'utf8'),
    );

    const check = await baton(['validate'], dir);
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toMatch(/^baton\.yml is valid: app shop, 2\+2 hosts, balancer haproxy on lb1\.example\.com/);

    const again = await baton(['init'], dir);
    expect(again.exitCode).toBe(64);
    expect(again.stderr).toMatch(/baton\.yml already exists/);
    expect(again.stderr).toContain('--force');

    const forced = await baton(['init', '--force'], dir);
    expect(forced.exitCode).toBe(0);
  });

  it('writes to the --config path, creating its folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
    const r = await baton(['init', '-c', 'deploy/prod.yml'], dir);
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(dir, 'deploy/prod.yml'))).toBe(true);
    expect(existsSync(join(dir, 'deploy/baton.schema.json'))).toBe(true);
  });
});

describe('baton schema', { timeout: 60_000 }, () => {
  it('prints the committed JSON Schema', async () => {
    const r = await baton(['schema']);
    expect(r.exitCode).toBe(0);
    expect(`${r.stdout}\n`).toBe(readFileSync(join(ROOT, 'templates/baton.schema.json'), 'utf8'));
  });

  it('--events prints the committed schema of the run event stream', async () => {
    const r = await baton(['schema', '--events']);
    expect(r.exitCode).toBe(0);
    expect(`${r.stdout}\n`).toBe(readFileSync(join(ROOT, 'templates/events.schema.json'), 'utf8'));
  });

  it('--markdown prints the committed configuration reference', async () => {
    const r = await baton(['schema', '--markdown']);
    expect(`${r.stdout}\n`).toBe(readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8'));
  });
});
