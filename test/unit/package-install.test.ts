// The package as a user gets it (npm test builds first): `npm pack` of the built tree, `npm install -g`
// of the tarball into a scratch prefix, then the installed `baton` run from an empty folder with a
// scratch HOME, away from the repository: init, validate, help, the reference, completion, a typo.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const scratch = mkdtempSync(join(tmpdir(), 'baton-package-'));
const prefix = join(scratch, 'prefix');
const home = join(scratch, 'home');
const project = join(scratch, 'project');
const tarball = join(scratch, `baton-${version}.tgz`);
const installed = join(prefix, 'lib/node_modules/baton');

// Only the scratch prefix and this node on PATH; no NODE_PATH; HOME and the caches in the scratch
// folder, so nothing of the repository or of the user's own setup can be what makes it work.
const env = {
  PATH: [join(prefix, 'bin'), dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
  HOME: home,
  XDG_CACHE_HOME: join(home, '.cache'),
  NO_COLOR: '1',
};
const baton = (args: string[]) =>
  execa(join(prefix, 'bin/baton'), args, { cwd: project, env, extendEnv: false, reject: false });

let entries: string[] = [];
let install: { flag: string; seconds: number };

beforeAll(async () => {
  for (const built of ['dist/cli/commands/init.js', 'oclif.manifest.json']) {
    if (!existsSync(join(ROOT, built)))
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does)`);
  }
  mkdirSync(home);
  mkdirSync(project);
  // npm test has just built dist: prepack's rebuild would only repeat it.
  await execa('npm', ['pack', '--pack-destination', scratch, '--ignore-scripts', '--silent'], { cwd: ROOT });
  entries = (await execa('tar', ['-tzf', tarball])).stdout.split('\n').map((e) => e.replace(/^package\//, ''));
  // The dependencies from npm's cache when it holds them (npm ci put their tarballs there; the
  // registry's metadata is there after one install), from the registry otherwise.
  const started = performance.now();
  for (const flag of ['--offline', '--prefer-offline']) {
    const r = await execa(
      'npm',
      ['install', '-g', '--prefix', prefix, tarball, '--no-audit', '--no-fund', '--omit=dev', flag],
      { cwd: scratch, reject: false },
    );
    if (r.exitCode === 0) {
      install = { flag, seconds: (performance.now() - started) / 1000 };
      return;
    }
    if (flag === '--prefer-offline') throw new Error(`npm install -g of the tarball failed:\n${r.stderr}`);
  }
}, 300_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('ships what an installed baton reads: the command, its bundle, templates, the reference, the manifest', () => {
    for (const f of [
      'bin/run.js',
      'dist/cli/commands/push.js',
      'templates/baton.yml',
      'templates/nginx/baton_balancer.lua',
      'docs/configuration.md',
      'docs/lab.md',
      'docs/benchmarks.md',
      'oclif.manifest.json',
      'README.md',
      'CHANGELOG.md',
      'LICENSE',
      'package.json',
    ]) {
      expect(entries).toContain(f);
    }
  });

  it('ships no tests, benchmarks, TypeScript sources or source maps', () => {
    const unwanted = entries.filter(
      (e) =>
        /^(test|bench|src|commands|plans|scripts|dist\/test|dist\/bench)\//.test(e) ||
        /\.(ts|map)$/.test(e) ||
        e === 'bin/dev.js',
    );
    expect(unwanted).toEqual([]);
  });
});

describe('baton installed from the tarball, run in an empty folder', { timeout: 60_000 }, () => {
  it('is on the prefix PATH and says its version', async () => {
    console.log(`npm install -g of the tarball (${install.flag}): ${install.seconds.toFixed(1)} s`);
    const r = await baton(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`baton/${version}`);
  });

  it('init writes the starter and its schema, and the starter validates', async () => {
    const init = await baton(['init']);
    expect(init.exitCode).toBe(0);
    expect(init.stdout).toContain('wrote baton.yml and baton.schema.json');
    expect(readFileSync(join(project, 'baton.yml'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'templates/baton.yml'), 'utf8'),
    );
    expect(JSON.parse(readFileSync(join(project, 'baton.schema.json'), 'utf8'))).toEqual(
      JSON.parse(readFileSync(join(ROOT, 'templates/baton.schema.json'), 'utf8')),
    );

    const validate = await baton(['validate']);
    expect(validate.stderr).toBe('');
    expect(validate.exitCode).toBe(0);
    expect(validate.stdout).toMatch(/^baton\.yml is valid: app shop/);
  });

  it('--help lists the commands and the exit codes', async () => {
    const r = await baton(['--help']);
    expect(r.exitCode).toBe(0);
    for (const s of ['EXIT CODES', 'COMMANDS', 'push', 'rollback', 'validate', 'autocomplete'])
      expect(r.stdout).toContain(s);
  });

  it('schema --markdown prints the reference the package ships as docs/configuration.md', async () => {
    const r = await baton(['schema', '--markdown']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('# baton.yml — configuration reference');
    expect(`${r.stdout}\n`).toBe(readFileSync(join(installed, 'docs/configuration.md'), 'utf8'));
  });

  it('a mistyped command is a usage error with a suggestion (the not-found hook loads from dist/src)', async () => {
    const r = await baton(['valdate']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('did you mean "validate"?');
  });

  it('autocomplete writes the shell completion scripts, naming the commands', async () => {
    const r = await baton(['autocomplete', '--refresh-cache']);
    expect(r.exitCode).toBe(0);
    const bash = readFileSync(join(home, '.cache/baton/autocomplete/functions/bash/baton.bash'), 'utf8');
    for (const command of ['push', 'rollback', 'validate', 'dns:cutover'])
      expect(bash).toMatch(new RegExp(`^${command} `, 'm'));
  });

  it('keeps its oclif.manifest.json: an installed package is never treated as a stale build', () => {
    expect(existsSync(join(installed, 'oclif.manifest.json'))).toBe(true);
  });
});
