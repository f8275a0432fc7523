// The bad-release list's commands are argv only: its path (from lock.path and app.name in
// baton.yml) and the release are positional parameters. Checked as strings, then run with sh on a
// path with a space and quotes.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { listBadReleases, markBadRelease } from '../../src/release/bad-release-commands.js';

const sh = (argv: string[]) => execa(argv[0] as string, argv.slice(1), { reject: false });

describe('bad release command builders', () => {
  it('pass the list and the release as parameters', () => {
    const file = `/var/lib/baton/it's "my app".bad-releases`;
    expect(listBadReleases(file)).toEqual(['cat', file]);
    expect(markBadRelease(file, 'v2-abc1234')).toEqual([
      'sh',
      '-c',
      'mkdir -p "$(dirname "$1")" && { grep -qxF -e "$2" "$1" 2>/dev/null || printf "%s\\n" "$2" >> "$1"; }',
      'sh',
      file,
      'v2-abc1234',
    ]);
  });

  it('mark a release once, in a folder made for it, and list it back', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'baton bad ')), `it's "new"`, 'shop $(id).bad-releases');
    expect((await sh(listBadReleases(file))).exitCode).not.toBe(0); // no list yet
    for (const dir of ['v2-abc1234', 'v2-abc1234', 'v3-.*', '-e'])
      expect((await sh(markBadRelease(file, dir))).exitCode).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('v2-abc1234\nv3-.*\n-e\n');
    expect((await sh(listBadReleases(file))).stdout).toBe('v2-abc1234\nv3-.*\n-e');
  });
});
