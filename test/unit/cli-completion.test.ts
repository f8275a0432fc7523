// Runs the built CLI (npm test builds first): `baton autocomplete` writes completion scripts that
// a shell sources; bash's is loaded here and asked what <TAB> offers after what a user typed.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
// The plugin writes its scripts under $XDG_CACHE_HOME/baton: a temp dir keeps the user's own cache untouched.
const cache = mkdtempSync(join(tmpdir(), 'baton-completion-'));
const baton = (args: string[]) =>
  execa('node', [join(ROOT, 'bin/run.js'), ...args], {
    cwd: ROOT,
    reject: false,
    env: { NO_COLOR: '1', XDG_CACHE_HOME: cache },
  });
const bashScript = join(cache, 'baton/autocomplete/functions/bash/baton.bash');

/** What bash completes for `words`, the last one being typed. */
async function complete(words: string[]): Promise<string[]> {
  const array = words.map((w) => `'${w}'`).join(' ');
  const r = await execa('bash', [
    '-c',
    `source '${bashScript}'; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _baton_autocomplete; ` +
      `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  return r.stdout.split('\n').filter(Boolean);
}

describe('shell completion', { timeout: 60_000 }, () => {
  let setup: Awaited<ReturnType<typeof baton>>;
  beforeAll(async () => {
    setup = await baton(['autocomplete', 'bash']);
  });

  it('`baton autocomplete bash` prints setup instructions and exits 0', () => {
    expect(setup.exitCode).toBe(0);
    expect(setup.stdout).toContain('baton autocomplete script bash');
  });

  it('`baton autocomplete script bash` prints the line to add to ~/.bashrc', async () => {
    const r = await baton(['autocomplete', 'script', 'bash']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('BATON_AC_BASH_SETUP_PATH=');
  });

  it('the bash script names the commands and their flags', () => {
    const text = readFileSync(bashScript, 'utf8');
    for (const word of ['push ', 'rollback ', 'dns:cutover ', '--lock-wait']) expect(text).toContain(word);
  });

  it('completes top-level commands', async () => {
    expect(await complete(['baton', 'ro'])).toEqual(['rollback']);
    expect(await complete(['baton', 'pu'])).toEqual(['push']);
  });

  it('completes a command of a topic after a space, the topic separator', async () => {
    expect(await complete(['baton', 'dns', 'cu'])).toEqual(['cutover']);
  });

  it("completes a command's flags", async () => {
    expect(await complete(['baton', 'push', '--lock'])).toEqual(['--lock-wait']);
  });
});
