// Rollback lists the releases a host keeps with listReleases: argv only, the deploy root (app.path
// in baton.yml) one argument after `--`. Checked as a string, then run on a root with a space and quotes.
import { mkdirSync, mkdtempSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { appPaths, listReleases } from '../../src/model/host-commands.js';

describe('listReleases', () => {
  it('is ls -1t of releases/, the path one argument after --', () => {
    expect(listReleases(appPaths(`/srv/it's "my" shop $(id)`))).toEqual([
      'ls',
      '-1t',
      '--',
      `/srv/it's "my" shop $(id)/releases`,
    ]);
  });

  it('lists the releases newest first on a root with a space and quotes', async () => {
    const root = mkdtempSync(join(tmpdir(), `baton it's "a" shop `));
    const paths = appPaths(root);
    for (const [dir, s] of [
      ['v1-aaaaaaa', 1_000],
      ['v3-ccccccc', 3_000],
      ['v2-bbbbbbb', 2_000],
    ] as const) {
      mkdirSync(join(paths.releases, dir), { recursive: true });
      utimesSync(join(paths.releases, dir), s, s);
    }
    const argv = listReleases(paths);
    const r = await execa(argv[0] as string, argv.slice(1));
    expect(r.stdout.split('\n')).toEqual(['v3-ccccccc', 'v2-bbbbbbb', 'v1-aaaaaaa']);
  });
});
