// The commands expand, reverse and contract run on the migrate host: argv only, values as
// positional parameters of fixed scripts. Run here for real with sh in a temporary deploy root.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BugError } from '../../src/errors.js';
import {
  appPaths,
  contractSchema,
  expandSchema,
  migrationLedger,
  readMigrationLedger,
  reverseExpandSchema,
} from '../../src/model/host-commands.js';

function deployRoot(...releases: string[]) {
  const root = mkdtempSync(join(tmpdir(), 'baton migrate $x "q" '));
  for (const r of releases) mkdirSync(join(root, 'releases', r), { recursive: true });
  return { root, paths: appPaths(root), ledger: join(root, 'migrations', 'expanded') };
}

const sh = (argv: string[]) => execa(argv[0] as string, argv.slice(1), { reject: false });

describe('migration command builders', () => {
  it('refuse a directory that is not a release name, before anything runs', () => {
    const paths = appPaths('/srv/shop');
    for (const dir of ['../etc', 'a/b', '', 'x y', '$(reboot)', '-rf', 'v1;rm']) {
      expect(() => expandSchema(paths, dir, 'true')).toThrow(BugError);
      expect(() => reverseExpandSchema(paths, dir, 'true')).toThrow(BugError);
      expect(() => contractSchema(paths, dir, 'true')).toThrow(BugError);
    }
  });

  it('never splice the command, the root or the release into the script', () => {
    const argv = expandSchema(appPaths('/srv/$(id)'), 'v7-abc1234', "echo 'x'; rm -rf /");
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).not.toContain('/srv');
    expect(argv[2]).not.toContain('v7-abc1234');
    expect(argv[2]).not.toContain('rm -rf');
    expect(argv.slice(3)).toEqual(['sh', '/srv/$(id)', 'v7-abc1234', "echo 'x'; rm -rf /"]);
    expect(migrationLedger(appPaths('/srv/shop'))).toBe('/srv/shop/migrations/expanded');
  });
});

describe('expand', () => {
  it('runs the command in the new release directory, then records it in the ledger', async () => {
    const { root, paths, ledger } = deployRoot('v7-abc1234');
    const r = await sh(expandSchema(paths, 'v7-abc1234', `pwd > ran; printf '%s' "it's \\$HOME" > quoted`));
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(root, 'releases/v7-abc1234/ran'), 'utf8').trim()).toBe(join(root, 'releases/v7-abc1234'));
    expect(readFileSync(join(root, 'releases/v7-abc1234/quoted'), 'utf8')).toBe("it's $HOME");
    expect(readFileSync(ledger, 'utf8')).toBe('v7-abc1234\n');
    // Written beside and renamed: no temporary file is left, and no earlier record to keep.
    expect(readdirSync(join(root, 'migrations'))).toEqual(['expanded']);
    expect((await sh(readMigrationLedger(paths))).stdout.trim()).toBe('v7-abc1234');
  });

  it('records nothing when the command fails', async () => {
    const { paths, ledger } = deployRoot('v7-abc1234');
    const r = await sh(expandSchema(paths, 'v7-abc1234', 'echo duplicate column >&2; exit 5'));
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain('duplicate column');
    expect(existsSync(ledger)).toBe(false);
  });

  it('refuses a release that is not on the host (exit 3), running nothing', async () => {
    const { root, paths } = deployRoot();
    const r = await sh(expandSchema(paths, 'v7-abc1234', 'touch "$0.ran"'));
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('release v7-abc1234 is not on this host');
    expect(existsSync(join(root, 'migrations'))).toBe(false);
  });

  it('reversed, puts back the record it replaced', async () => {
    const { root, paths, ledger } = deployRoot('v6-aaaaaaa', 'v7-abc1234');
    await sh(expandSchema(paths, 'v6-aaaaaaa', 'true'));
    await sh(expandSchema(paths, 'v7-abc1234', 'true'));
    expect(readFileSync(ledger, 'utf8')).toBe('v7-abc1234\n');
    const r = await sh(reverseExpandSchema(paths, 'v7-abc1234', 'touch reversed'));
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(root, 'releases/v7-abc1234/reversed'))).toBe(true);
    expect(readFileSync(ledger, 'utf8')).toBe('v6-aaaaaaa\n');
    expect(readdirSync(join(root, 'migrations'))).toEqual(['expanded']);
  });

  it('reversed with no earlier record, leaves none', async () => {
    const { paths, ledger } = deployRoot('v7-abc1234');
    await sh(expandSchema(paths, 'v7-abc1234', 'true'));
    expect((await sh(reverseExpandSchema(paths, 'v7-abc1234', 'true'))).exitCode).toBe(0);
    expect(existsSync(ledger)).toBe(false);
  });

  it('a failed reverse keeps the record: the schema may still be expanded', async () => {
    const { paths, ledger } = deployRoot('v7-abc1234');
    await sh(expandSchema(paths, 'v7-abc1234', 'true'));
    expect((await sh(reverseExpandSchema(paths, 'v7-abc1234', 'exit 1'))).exitCode).toBe(1);
    expect(readFileSync(ledger, 'utf8')).toBe('v7-abc1234\n');
  });
});

describe('contract', () => {
  function expandedAndCurrent(current: string) {
    const d = deployRoot('v6-aaaaaaa', 'v7-abc1234');
    mkdirSync(join(d.root, 'migrations'));
    writeFileSync(d.ledger, 'v7-abc1234\n');
    symlinkSync(`releases/${current}`, join(d.root, 'current'));
    return d;
  }

  it('runs the command in the release every host runs, then moves the ledger aside', async () => {
    const { root, paths, ledger } = expandedAndCurrent('v7-abc1234');
    const r = await sh(contractSchema(paths, 'v7-abc1234', 'pwd > contracted-here'));
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(root, 'releases/v7-abc1234/contracted-here'), 'utf8').trim()).toBe(
      join(root, 'releases/v7-abc1234'),
    );
    expect(existsSync(ledger)).toBe(false);
    expect(readFileSync(join(root, 'migrations/contracted'), 'utf8')).toBe('v7-abc1234\n');
    // The same expand is never contracted twice.
    expect((await sh(contractSchema(paths, 'v7-abc1234', 'touch again'))).exitCode).toBe(3);
    expect(existsSync(join(root, 'releases/v7-abc1234/again'))).toBe(false);
  });

  it('refuses (exit 3), running nothing, when the host runs another release', async () => {
    const { root, paths, ledger } = expandedAndCurrent('v6-aaaaaaa');
    const r = await sh(contractSchema(paths, 'v7-abc1234', 'touch ran'));
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('this host runs v6-aaaaaaa, not v7-abc1234');
    expect(existsSync(join(root, 'releases/v7-abc1234/ran'))).toBe(false);
    expect(readFileSync(ledger, 'utf8')).toBe('v7-abc1234\n');
  });

  it('refuses (exit 3) when the ledger names another release', async () => {
    const { root, paths } = expandedAndCurrent('v6-aaaaaaa');
    const r = await sh(contractSchema(paths, 'v6-aaaaaaa', 'touch ran'));
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/the ledger .*migrations\/expanded no longer names v6-aaaaaaa/);
    expect(existsSync(join(root, 'releases/v6-aaaaaaa/ran'))).toBe(false);
  });

  it('reads no ledger as nothing', async () => {
    const { paths } = deployRoot();
    const r = await sh(readMigrationLedger(paths));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
  });
});
