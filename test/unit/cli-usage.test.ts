// Runs the built CLI (npm test builds first): unknown commands, help and bad flags, as a user types them.
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { closestCommand, editDistance } from '../../src/cli/unknown-command.js';

const ROOT = join(import.meta.dirname, '../..');
const baton = (args: string[]) =>
  execa('node', [join(ROOT, 'bin/run.js'), ...args], { cwd: ROOT, reject: false, env: { NO_COLOR: '1' } });

describe('an unknown command', { timeout: 60_000 }, () => {
  it('exits 64 with the closest command and a hint to --help', async () => {
    const r = await baton(['valdate']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toBe(
      'Error: unknown command "valdate"; did you mean "validate"?\nHint: `baton --help` lists every command',
    );
    expect(r.stdout).toBe('');
  });

  it('inside a topic suggests the command of that topic', async () => {
    const r = await baton(['dns', 'plann']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('unknown command "dns plann"; did you mean "dns plan"?');
  });

  it('without its topic suggests the command with it', async () => {
    const r = await baton(['cutover']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('did you mean "dns cutover"?');
  });

  it.each([
    ['rolback', 'rollback'],
    ['pusj', 'push'],
    ['stauts', 'status'],
  ])('`baton %s` suggests the top-level "%s", not a command of a topic', async (typed, expected) => {
    const r = await baton([typed]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toBe(
      `Error: unknown command "${typed}"; did you mean "${expected}"?\nHint: \`baton --help\` lists every command`,
    );
  });

  it('far from every command gets no suggestion, only the hint', async () => {
    const r = await baton(['xyzzy-frobnicate']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toBe('Error: unknown command "xyzzy-frobnicate"\nHint: `baton --help` lists every command');
  });

  it('after `help` is the same usage error', async () => {
    const r = await baton(['help', 'valdate']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('unknown command "valdate"; did you mean "validate"?');
  });
});

describe('help', { timeout: 60_000 }, () => {
  it("`help validate` shows that command's help and exits 0", async () => {
    const r = await baton(['help', 'validate']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('$ baton validate');
  });

  it('`help dns plan` shows the help of the command in the topic', async () => {
    const r = await baton(['help', 'dns', 'plan']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('$ baton dns plan');
    expect(r.stdout).toContain('--output');
  });

  for (const args of [['-h'], ['--help'], ['help']]) {
    it(`\`baton ${args.join(' ')}\` shows the root help and exits 0`, async () => {
      const r = await baton(args);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('EXIT CODES');
      expect(r.stdout).toMatch(/^\s+validate\s/m);
    });
  }

  for (const flag of ['-h', '--help']) {
    it(`\`baton validate ${flag}\` and \`baton dns plan ${flag}\` show the command's help and exit 0`, async () => {
      const v = await baton(['validate', flag]);
      expect(v.exitCode).toBe(0);
      expect(v.stdout).toContain('$ baton validate');
      const d = await baton(['dns', 'plan', flag]);
      expect(d.exitCode).toBe(0);
      expect(d.stdout).toContain('$ baton dns plan');
    });
  }

  it("the dns topic has its own description, not one of its commands' summaries", async () => {
    for (const args of [
      ['help', 'dns'],
      ['dns', '--help'],
    ]) {
      const r = await baton(args);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.split('\n')[0]).toMatch(/^Move a site to a new host/);
      expect(r.stdout).toMatch(/^\s+dns proxy\s+The transitional proxy/m);
    }
  });
});

describe('a bad flag', { timeout: 60_000 }, () => {
  it('exits 64 and names the flag', async () => {
    const r = await baton(['validate', '--no-such-flag']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('Nonexistent flag: --no-such-flag');
  });

  it('to `help` too', async () => {
    const r = await baton(['help', '--no-such-flag']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('Nonexistent flag: --no-such-flag');
  });
});

describe('closestCommand', () => {
  const known = ['validate', 'push', 'apply', 'dns plan', 'dns cutover', 'dns proxy install'];

  it('finds a typo, inside a topic or without it', () => {
    expect(closestCommand('valdate', known)).toBe('validate');
    expect(closestCommand('dns plann', known)).toBe('dns plan');
    expect(closestCommand('cutover', known)).toBe('dns cutover');
    expect(closestCommand('install', known)).toBe('dns proxy install');
  });

  it('breaks a tie for the top-level command, whatever order the commands come in', () => {
    // oclif lists `dns rollback` before `rollback`: both are one edit from `rolback`.
    const all = ['dns cutover', 'dns rollback', 'dns plan', 'plan', 'push', 'rollback', 'status', 'snapshot'];
    expect(closestCommand('rolback', all)).toBe('rollback');
    expect(closestCommand('rolback', [...all].reverse())).toBe('rollback');
    expect(closestCommand('pusj', all)).toBe('push');
    expect(closestCommand('stauts', all)).toBe('status');
    expect(closestCommand('dns rolback', all)).toBe('dns rollback');
  });

  it('suggests nothing for a different word', () => {
    expect(closestCommand('frobnicate', known)).toBeUndefined();
  });

  it('counts edits', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});

describe('lock --lease', { timeout: 60_000 }, () => {
  it.each([
    ['99999999999h', /--lease 99999999999h: expected at most 168h/],
    ['0ms', /--lease 0ms: expected at least 10s/],
    ['soon', /--lease soon: expected a duration such as 500ms, 60s or 2m/],
  ])('%s exits 64 with what a lease may be, before anything is read or reached', async (lease, message) => {
    const r = await baton([
      'lock',
      '--reason',
      'test',
      '--lease',
      lease,
      '-c',
      join(ROOT, 'test/fixtures/config/valid/minimal.yml'),
    ]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });
});

describe('destructive commands without a terminal', { timeout: 60_000 }, () => {
  it('rollback without --yes refuses (exit 64) before reading baton.yml or any host', async () => {
    const r = await baton(['rollback', '-c', '/nonexistent/baton.yml']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/rollback changes production, and there is no terminal to ask for confirmation/);
    expect(r.stderr).toMatch(/pass --yes/);
  });

  it(
    'push without a TAG (or --continue) is a usage error (exit 64) ' + 'before baton.yml is read or any host reached',
    async () => {
      const r = await baton(['push', '-c', '/nonexistent/baton.yml']);
      expect(r.exitCode).toBe(64);
      expect(r.stderr).toBe(
        'Error: push needs a TAG (or --continue to finish a held push)\nHint: e.g. `baton push v2.3.1`, ' +
          'or `baton push --continue`',
      );
    },
  );

  it(
    'unlock --force without --reason is a usage error (exit 64) ' + 'before baton.yml is read or any host reached',
    async () => {
      const r = await baton(['unlock', '--force', '-c', '/nonexistent/baton.yml']);
      expect(r.exitCode).toBe(64);
      expect(r.stderr).toMatch(
        new RegExp(
          /^Error: unlock --force needs --reason TEXT: taking someone else's release lock is reported with /.source +
            /who took it and why\n/.source,
        ),
      );
    },
  );

  it('unlock --force --reason without --yes refuses (exit 64) where there is no terminal to ask', async () => {
    const r = await baton([
      'unlock',
      '--force',
      '--reason',
      'CI job 812 was cancelled',
      '-c',
      '/nonexistent/baton.yml',
    ]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toBe(
      "Error: unlock --force takes someone else's release lock, " +
        'and there is no terminal to ask for confirmation\nHint: pass --yes to take it without asking (CI)',
    );
  });

  it('a bad --lock-wait is a usage error naming the flag', async () => {
    const r = await baton(['push', 'v1', '--lock-wait', 'soon', '-c', '/nonexistent/baton.yml']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/--lock-wait soon: expected a duration such as 500ms, 60s or 2m/);
  });
});

describe('a tag that cannot name a release', { timeout: 60_000 }, () => {
  it('is refused by push before baton.yml is read (there is none here)', async () => {
    const r = await baton(['push', '../etc', '-c', '/nonexistent/baton.yml']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toBe(
      'Error: tag "../etc" cannot name a release directory\n' +
        'Hint: tags may use letters, digits, ".", "_", "-" and "/" (no "..")',
    );
  });
});
