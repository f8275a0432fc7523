// A restore's commands are argv only: paths, modes, owners, link targets (from a snapshot) and
// package names are positional parameters. Checked as strings, then applyFiles is run with sh on
// paths with spaces, quotes and `$(…)`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { TrackedEntry } from '../../src/config-track/host-files.js';
import { applyFiles, installPackages } from '../../src/config-track/restore-commands.js';

describe('restore command builders', () => {
  it('install only name=version lines, the raise as the first parameter', () => {
    const argv = installPackages(['libc6=2.36-9', 'evil pkg=1', '$(reboot)=1', 'nginx=1.22.1-9+deb12u1', 'x'], true);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual(['sh', 'sudo', 'libc6=2.36-9', 'nginx=1.22.1-9+deb12u1']);
    expect(installPackages(['libc6=2.36-9'], false).slice(3)).toEqual(['sh', '-', 'libc6=2.36-9']);
    expect(argv[2]).not.toContain('libc6');
  });

  it('pass each entry as kind, path, mode, owner, target; `-` for what it lacks', () => {
    const entries: TrackedEntry[] = [
      { kind: 'dir', path: `/etc/it's "my" app` },
      { kind: 'file', path: `/etc/it's "my" app/$(id).conf`, mode: '640', owner: 'www-data:www-data' },
      { kind: 'link', path: '/etc/app.conf', target: `/etc/it's "my" app/$(id).conf` },
    ];
    const argv = applyFiles(entries);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual([
      'sh',
      'dir',
      `/etc/it's "my" app`,
      '-',
      '-',
      '-',
      'file',
      `/etc/it's "my" app/$(id).conf`,
      '640',
      'www-data:www-data',
      '-',
      'link',
      '/etc/app.conf',
      '-',
      '-',
      `/etc/it's "my" app/$(id).conf`,
    ]);
    expect(argv[2]).not.toContain('/etc');
  });

  it('put back a folder, a file with its mode and a link on paths with spaces, quotes and $(…)', async () => {
    const root = mkdtempSync(join(tmpdir(), `baton restore it's "x" `));
    const folder = join(root, 'conf $(touch pwned) d');
    const file = join(folder, `it's "a".conf`);
    const link = join(root, 'link "to" it');
    const staging = mkdtempSync(join(tmpdir(), 'baton-restore-staging-'));
    mkdirSync(dirname(join(staging, 'files', file)), { recursive: true });
    writeFileSync(join(staging, 'files', file), 'listen 80;\n');
    const archive = (await execa('tar', ['-czf', '-', '-C', staging, 'files'], { encoding: 'buffer' })).stdout;
    const argv = applyFiles([
      { kind: 'dir', path: folder, mode: '750' },
      { kind: 'file', path: file, mode: '640' },
      { kind: 'link', path: link, target: file },
    ]);
    const r = await execa(argv[0] as string, argv.slice(1), { input: Buffer.from(archive), reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(statSync(folder).mode & 0o777).toBe(0o750);
    expect(readFileSync(file, 'utf8')).toBe('listen 80;\n');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readlinkSync(link)).toBe(file);
    expect(existsSync('pwned')).toBe(false);
  });
});
