// Mutations of the valid fixtures, and files that are not configurations at all, through the
// loader `baton validate` uses: each ends with a config or a located exit-64 error, quickly,
// and never repeats a secret. Deterministic: one seeded generator, no new dependency.
//
// Tests run as root, so chmod 000 cannot make an unreadable file; a path through a regular
// file (ENOTDIR) stands in for a file that cannot be opened.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, UserError } from '../../src/errors.js';

const ROOT = join(import.meta.dirname, '../..');
const VALID = join(ROOT, 'test/fixtures/config/valid');
const SECRET = 'hunter2-FuzzSecret-7f3a';
const SEED = 20261130;

// mulberry32: a small seeded PRNG, enough to pick mutations reproducibly.
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WRONG_VALUES = [
  '[]',
  '{}',
  '~',
  'null',
  'true',
  '-1',
  '0',
  '1.5',
  '99999999999999999999',
  '1e400',
  '0x1F',
  '.nan',
  '-.inf',
  '"ünïcödé 🙂"',
  '"\\u202Eevil"',
  '"\\e[2J"',
  '"\\x00"',
  '"a\\nb"',
  "''",
  '"   "',
  '&x [1, 2]',
  '*nope',
  '!!binary aGk=',
  '"/"',
  '"/srv/../etc"',
  '"99999999999h"',
  '"0ms"',
  '"(["',
  '"web;disable server web/web1"',
  `"${'x'.repeat(5000)}"`,
  SECRET,
  `"${SECRET}"`,
  `[${SECRET}]`,
];

type Mutation = (lines: string[], rnd: () => number) => string | Buffer;
const pick = <T>(items: readonly T[], rnd: () => number): T => items[Math.floor(rnd() * items.length)]!;
const at = (lines: string[], rnd: () => number) => Math.floor(rnd() * lines.length);

const MUTATIONS: Record<string, Mutation> = {
  'delete a line': (lines, rnd) => lines.filter((_, i) => i !== at(lines, rnd)).join('\n'),
  'duplicate a line': (lines, rnd) => {
    const i = at(lines, rnd);
    return [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join('\n');
  },
  'swap two lines': (lines, rnd) => {
    const [i, j] = [at(lines, rnd), at(lines, rnd)];
    const out = [...lines];
    [out[i], out[j]] = [out[j]!, out[i]!];
    return out.join('\n');
  },
  'a wrong value': (lines, rnd) => {
    const candidates = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*[\w$-]+: \S/.test(l));
    if (candidates.length === 0) return lines.join('\n');
    const [line, i] = pick(candidates, rnd);
    const out = [...lines];
    out[i] = line.replace(/: .*/, `: ${pick(WRONG_VALUES, rnd)}`);
    return out.join('\n');
  },
  'a tab in the indentation': (lines, rnd) =>
    lines.map((l, i) => (i === at(lines, rnd) ? l.replace(/^ +/, '\t') : l)).join('\n'),
  'indented one deeper': (lines, rnd) => {
    const i = at(lines, rnd);
    return lines.map((l, n) => (n === i ? ` ${l}` : l)).join('\n');
  },
  'unicode in a key': (lines, rnd) => {
    const i = at(lines, rnd);
    return lines.map((l, n) => (n === i ? l.replace(/^(\s*)(\w)/, '$1ü$2') : l)).join('\n');
  },
  'cut short': (lines, rnd) => {
    const text = lines.join('\n');
    return text.slice(0, Math.floor(rnd() * text.length));
  },
  'an anchor and aliases': (lines, rnd) =>
    `${lines.join('\n')}\nx-a: &a { ${SECRET.slice(0, 4)}: 1 }\nx-b: [*a, ` +
    `*a]\nx-c: ${pick(['*a', '*nope', '&b [*b]'], rnd)}\n`,
  'an alias bomb': (lines, rnd) => {
    const depth = 3 + Math.floor(rnd() * 6);
    const bomb = ['b0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let d = 1; d <= depth; d++)
      bomb.push(
        `b${d}: &b${d} [${Array(10)
          .fill(`*b${d - 1}`)
          .join(', ')}]`,
      );
    return `${lines.join('\n')}\n${bomb.join('\n')}\n`;
  },
  'more than 100 aliases': (lines) =>
    `${lines.join('\n')}\nx: &x 1\n${Array.from({ length: 120 }, (_, i) => `y${i}: *x`).join('\n')}\n`,
  'binary junk': (lines, rnd) => {
    const junk = Buffer.from(Array.from({ length: 64 }, () => Math.floor(rnd() * 256)));
    const text = Buffer.from(lines.join('\n'));
    const cut = Math.floor(rnd() * text.length);
    return Buffer.concat([text.subarray(0, cut), junk, text.subarray(cut)]);
  },
  'a huge number': (lines, rnd) => {
    const i = at(lines, rnd);
    return lines.map((l, n) => (n === i ? l.replace(/: .*/, `: ${'9'.repeat(400)}`) : l)).join('\n');
  },
  'deep nesting': (lines, rnd) => `${lines.join('\n')}\nsmoke: ${'['.repeat(50 + Math.floor(rnd() * 3000))}\n`,
  'the secret as a value': (lines, rnd) => {
    const candidates = lines
      .map((l, i) => [l, i] as const)
      .filter(([l]) => /^\s*(name|keep|port|host|driver|backend|internal): \S/.test(l));
    if (candidates.length === 0) return `${SECRET}\n`;
    const [line, i] = pick(candidates, rnd);
    const out = [...lines];
    out[i] = line.replace(/: .*/, `: ${SECRET}`);
    return out.join('\n');
  },
};

interface Case {
  name: string;
  path: string;
}

const dir = mkdtempSync(join(tmpdir(), 'baton-fuzz-'));
// Secrets where a careless loader might pick them up: the environment and a file beside baton.yml.
process.env.BATON_FUZZ_SECRET = SECRET;
writeFileSync(join(dir, 'secret.txt'), `${SECRET}\n`);
writeFileSync(join(dir, '.env'), `DB_PASSWORD=${SECRET}\n`);

function buildCases(): Case[] {
  const rnd = generator(SEED);
  const fixtures = readdirSync(VALID)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => [f, readFileSync(join(VALID, f), 'utf8')] as const);
  const cases: Case[] = [];
  const write = (name: string, content: string | Buffer) => {
    const path = join(dir, `case-${cases.length}.yml`);
    writeFileSync(path, content);
    cases.push({ name, path });
  };
  const names = Object.keys(MUTATIONS);
  for (let n = 0; n < 320; n++) {
    const [fixture, text] = pick(fixtures, rnd);
    let lines = text.split('\n');
    const applied: string[] = [];
    // One to three mutations on top of each other.
    for (let k = 0, count = 1 + Math.floor(rnd() * 3); k < count; k++) {
      const name = pick(names, rnd);
      const out = MUTATIONS[name]!(lines, rnd);
      applied.push(name);
      if (Buffer.isBuffer(out)) {
        write(`${fixture}: ${applied.join(', ')}`, out);
        lines = [];
        break;
      }
      lines = out.split('\n');
    }
    if (lines.length > 0) write(`${fixture}: ${applied.join(', ')}`, lines.join('\n'));
  }
  // Files that are not configurations at all.
  write('an empty file', '');
  write('only a comment', '# nothing here\n');
  write('the .env beside it', `DB_PASSWORD=${SECRET}\n`);
  write('a token file', `${SECRET}\n`);
  write('an alias that names itself', 'smoke: &s [*s]\n');
  write('300 KiB of text', `# ${'x'.repeat(300 * 1024)}\n`);
  write('11,000 lines', '#\n'.repeat(11_000));
  write('pure binary', Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rnd() * 256))));
  mkdirSync(join(dir, 'a-folder'));
  cases.push({ name: 'a folder', path: join(dir, 'a-folder') });
  execFileSync('mkfifo', [join(dir, 'a-fifo')]);
  cases.push({ name: 'a FIFO', path: join(dir, 'a-fifo') });
  cases.push({ name: 'a device', path: '/dev/urandom' });
  cases.push({ name: 'a path through a file (cannot be opened)', path: join(dir, 'secret.txt', 'baton.yml') });
  cases.push({ name: 'no such file', path: join(dir, 'missing.yml') });
  return cases;
}

const CASES = buildCases();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config fuzz, in process', () => {
  it('has at least 300 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(300);
  });

  it.each(CASES.map((c, i) => ({ ...c, i })))(
    '#$i $name: a config or an exit-64 error, within 2 s, no secret',
    async ({ path }) => {
      const started = performance.now();
      const outcome = await loadConfig(path).then(
        (config) => ({ ok: true as const, text: JSON.stringify(config) }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      expect(performance.now() - started).toBeLessThan(2000);
      if (outcome.ok) return;
      const { err } = outcome;
      expect(err instanceof ConfigError || err instanceof UserError).toBe(true);
      const e = err as ConfigError | UserError;
      expect(e.exitCode).toBe(64);
      const said = `${e.message}\n${e.hint ?? ''}\n${e instanceof ConfigError ? JSON.stringify(e.issues) : ''}`;
      expect(said).not.toContain(SECRET);
      expect(said).not.toContain(SECRET.slice(0, 12));
      if (e instanceof ConfigError) for (const issue of e.issues) expect(issue.line).toBeGreaterThanOrEqual(1);
    },
  );
});

// Runs the built CLI (npm test builds first). Concurrent: a process start is most of each case.
describe.concurrent('config fuzz, through the CLI', () => {
  const SPECIAL = ['a FIFO', 'a device', 'a folder', 'a token file', 'pure binary', 'an alias that names itself'];
  const sample = [...CASES.filter((_, i) => i % 80 === 7), ...CASES.filter((c) => SPECIAL.includes(c.name))];

  it.each(sample.map((c) => ({ ...c })))(
    '$name: exit 0 or 64, no stack trace, no secret',
    { timeout: 20_000 },
    async ({ path }) => {
      const started = performance.now();
      const r = await execa('node', [join(ROOT, 'bin/run.js'), 'validate', '-c', path], {
        cwd: dir,
        reject: false,
        env: { NO_COLOR: '1' },
        timeout: 15_000,
      });
      expect(performance.now() - started).toBeLessThan(10_000);
      expect([0, 64]).toContain(r.exitCode);
      const output = `${r.stdout}\n${r.stderr}`;
      expect(output).not.toMatch(/internal error|\n\s+at /);
      expect(output).not.toContain(SECRET);
    },
  );
});
