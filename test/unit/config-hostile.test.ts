// Hostile or accidental input given as baton.yml: refused early, located, exit 64, and never
// repeated back (a file passed by mistake may be a secret).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';

const VALID = join(import.meta.dirname, '../fixtures/config/valid');
const minimal = readFileSync(join(VALID, 'minimal.yml'), 'utf8');
const messagesOf = (text: string, file = 'baton.yml') => parseConfig(text, file).issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path}: ${i.message}`);

describe('a file that is not baton.yml', () => {
  it.each([
    ['.env', 'SHOP_DB_PASSWORD=hunter2-Secret\n', /found text$/],
    ['deploy.token', 'tok-hunter2-Secret\n', /found text$/],
    ['pin', '4242\n', /found a whole number$/],
    ['secret.yml', 'password: [hunter2-Secret]\napp: {name: hunter2-Secret}\n', /./],
    ['tagged.yml', '!hunter2-Secret x\n', /found text$/],
    ['header.yml', 'a: |hunter2-Secret\n  x\n', /YAML syntax error/],
    ['alias.yml', '*hunter2-Secret\n', /unknown alias/],
  ])('%s is described by its kind, never quoted', (file, text, expected) => {
    const messages = messagesOf(text, file);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('\n')).toMatch(expected);
    expect(messages.join('\n')).not.toMatch(/hunter2|4242/);
  });

  it('wrong values deep inside are not quoted either', () => {
    const text = minimal.replace('keep: 5', '').replace('restart: systemctl restart shop', 'restart: systemctl restart shop\n  keep: hunter2-Secret\n  signedTags: hunter2-Secret');
    const messages = messagesOf(`${text}ssh: { port: 424242 }\nclusters2: x\n`);
    expect(messages.join('\n')).toMatch(/app\.keep: expected a number, found text/);
    expect(messages.join('\n')).not.toMatch(/hunter2|424242/);
  });
});

describe('aliases', () => {
  it('a recursive alias is a located error, not a stack overflow', () => {
    expect(messagesOf('smoke: &s [*s]\n')).toContainEqual(expect.stringMatching(/^baton\.yml:1:12: smoke\[0\]: recursive alias/));
    expect(messagesOf(`${minimal}resolve: &r { a: { b: *r } }\n`).join('\n')).toMatch(/:14:\d+: resolve\.a\.b: recursive alias/);
  });

  it('more than 100 aliases is a located error naming the limit', () => {
    const lines = ['a: &a [x]', ...Array.from({ length: 102 }, (_, i) => `k${i}: *a`)];
    expect(messagesOf(lines.join('\n'))).toEqual([expect.stringMatching(/^baton\.yml:102:7: k100: more than 100 aliases \(the limit, against alias bombs\)/)]);
  });

  it('an alias bomb under 100 aliases is refused at its first alias', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10).fill(`*${'abcdefgh'[i - 1]}`).join(', ')}]`);
    const messages = messagesOf(levels.join('\n'));
    expect(messages).toEqual([expect.stringMatching(/^baton\.yml:2:\d+: : aliases here expand to more than 100 copies/)]);
  });

  it('nesting deeper than 64 levels is a located error', () => {
    expect(messagesOf(`smoke: ${'['.repeat(100)}${']'.repeat(100)}\n`)).toEqual([expect.stringMatching(/^baton\.yml:1:\d+: smoke(\[0\])+: nested more than 64 levels deep/)]);
    // So deep that yaml's own parser runs out of stack.
    expect(messagesOf(`smoke: ${'['.repeat(5000)}${']'.repeat(5000)}\n`)).toEqual([expect.stringMatching(/^baton\.yml:1:\d+: : nested more than 64 levels deep/)]);
    expect(messagesOf(`smoke:\n${'- '.repeat(5000)}x\n`)).toEqual([expect.stringMatching(/nested more than 64 levels deep/)]);
  });
});
