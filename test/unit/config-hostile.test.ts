// Hostile or accidental input given as baton.yml: refused early, located, exit 64, and never
// repeated back (a file passed by mistake may be a secret).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { ConfigError, UserError, type BatonError } from '../../src/errors.js';

const VALID = join(import.meta.dirname, '../fixtures/config/valid');
const minimal = readFileSync(join(VALID, 'minimal.yml'), 'utf8');
const messagesOf = (text: string, file = 'baton.yml') =>
  parseConfig(text, file).issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path}: ${i.message}`);

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
    const text = minimal
      .replace('keep: 5', '')
      .replace(
        'restart: systemctl restart shop',
        'restart: systemctl restart shop\n  keep: hunter2-Secret\n  signedTags: hunter2-Secret',
      );
    const messages = messagesOf(`${text}ssh: { port: 424242 }\nclusters2: x\n`);
    expect(messages.join('\n')).toMatch(/app\.keep: expected a number, found text/);
    expect(messages.join('\n')).not.toMatch(/hunter2|424242/);
  });
});

describe('a value of a closed set (balancer.driver, smoke method, …)', () => {
  const withDriver = (driver: string) => messagesOf(minimal.replace('driver: haproxy', `driver: ${driver}`));

  it('is quoted when it is a short word, as the allowed ones are, with the closest one when it is a typo', () => {
    expect(withDriver('haproxi')).toEqual([
      'baton.yml:8:11: balancer.driver: expected one of: haproxy, apache, nginx, found `haproxi`; ' +
        'did you mean `haproxy`?',
    ]);
    expect(withDriver('NGINX')).toEqual([
      'baton.yml:8:11: balancer.driver: expected one of: haproxy, apache, nginx, found `NGINX`; did you mean `nginx`?',
    ]);
    expect(messagesOf(`${minimal}smoke: [{ path: /, method: get }]\n`)).toEqual([
      'baton.yml:14:28: smoke[0].method: expected one of: GET, HEAD, POST, found `get`; did you mean `GET`?',
    ]);
  });

  it('is described by its kind when it could be anything else: a token, a sentence, a control character', () => {
    for (const value of ['tok-hunter2-Secret-0123456789', '"hunter2 Secret"', '"hunter2\\e[2J"']) {
      const messages = withDriver(value).join('\n');
      expect(messages).toMatch(/balancer\.driver: expected one of: haproxy, apache, nginx, found text$/m);
      expect(messages).not.toMatch(/hunter2/);
    }
  });
});

describe('aliases', () => {
  it('a recursive alias is a located error, not a stack overflow', () => {
    expect(messagesOf('smoke: &s [*s]\n')).toContainEqual(
      expect.stringMatching(/^baton\.yml:1:12: smoke\[0\]: recursive alias/),
    );
    expect(messagesOf(`${minimal}resolve: &r { a: { b: *r } }\n`).join('\n')).toMatch(
      /:14:\d+: resolve\.a\.b: recursive alias/,
    );
  });

  it('more than 100 aliases is a located error naming the limit', () => {
    const lines = ['a: &a [x]', ...Array.from({ length: 102 }, (_, i) => `k${i}: *a`)];
    expect(messagesOf(lines.join('\n'))).toEqual([
      expect.stringMatching(/^baton\.yml:102:7: k100: more than 100 aliases \(the limit, against alias bombs\)/),
    ]);
  });

  it('an alias bomb under 100 aliases is refused at its first alias', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      levels.push(
        `${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10)
          .fill(`*${'abcdefgh'[i - 1]}`)
          .join(', ')}]`,
      );
    const messages = messagesOf(levels.join('\n'));
    expect(messages).toEqual([
      expect.stringMatching(/^baton\.yml:2:\d+: : aliases here expand to more than 100 copies/),
    ]);
  });

  it('nesting deeper than 64 levels is a located error', () => {
    expect(messagesOf(`smoke: ${'['.repeat(100)}${']'.repeat(100)}\n`)).toEqual([
      expect.stringMatching(/^baton\.yml:1:\d+: smoke(\[0\])+: nested more than 64 levels deep/),
    ]);
    // So deep that yaml's own parser runs out of stack.
    expect(messagesOf(`smoke: ${'['.repeat(5000)}${']'.repeat(5000)}\n`)).toEqual([
      expect.stringMatching(/^baton\.yml:1:\d+: : nested more than 64 levels deep/),
    ]);
    expect(messagesOf(`smoke:\n${'- '.repeat(5000)}x\n`)).toEqual([
      expect.stringMatching(/nested more than 64 levels deep/),
    ]);
  });
});

describe('what --config points at', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-config-'));
  const file = (name: string, content: string | Buffer) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const refusal = (path: string) =>
    loadConfig(path).then(
      () => undefined,
      (err: unknown) => err as BatonError,
    );
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a FIFO', fifo, /is not a regular file \(it is a FIFO\)/],
    ['a device', '/dev/urandom', /is not a regular file \(it is a device\)/],
    ['a folder', dir, /is a folder, not a configuration file/],
    ['a path through a file', join(VALID, 'minimal.yml', 'baton.yml'), /a part of the path is a file, not a folder/],
    ['a huge file', file('huge.yml', `# ${'x'.repeat(300 * 1024)}\n`), /larger than 256 KiB/],
  ])('%s is refused before it is read, exit 64', async (_, path, message) => {
    const err = await refusal(path);
    expect(err).toBeInstanceOf(UserError);
    expect(err?.exitCode).toBe(64);
    expect(err?.message).toMatch(message);
  });

  it.each([
    ['an empty file', '', /^1:1: expected a map with keys app, .*, found nothing$/],
    ['binary junk', Buffer.from([0x61, 0x3a, 0x20, 0x0a, 0x00, 0xff, 0x13, 0x37]), /^2:2: not UTF-8 text/],
    ['a control character', 'app: x\nb: \x1b[2J\n', /^2:4: control character U\+001B: baton.yml is text/],
    ['a NUL byte', 'app: x\x00\n', /^1:7: control character U\+0000/],
    ['100,001 lines', `${minimal}${'#\n'.repeat(100_000)}`, /^10001:1: more than 10,000 lines/],
  ])('%s is a located error, exit 64', async (_, content, message) => {
    const err = await refusal(file('text.yml', content));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.exitCode).toBe(64);
    const [issue] = (err as ConfigError).issues;
    expect(`${issue?.line}:${issue?.col}: ${issue?.message}`).toMatch(message);
  });

  it('Windows line ends are text', async () => {
    await expect(loadConfig(file('crlf.yml', minimal.replace(/\n/g, '\r\n')))).resolves.toMatchObject({
      app: { name: 'shop' },
    });
  });
});

describe('a huge map', () => {
  const keys = (n: number) => `${minimal}${Array.from({ length: n }, (_, i) => `k${i}: v`).join('\n')}\n`;

  it('of 100,000 keys is refused at once', () => {
    const started = Date.now();
    expect(messagesOf(keys(100_000))).toEqual([expect.stringMatching(/^baton\.yml:1:1: : larger than 256 KiB/)]);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('of 9,000 unknown keys is answered key by key in linear time', () => {
    // Duplicate keys, locating each problem and "did you mean" were each quadratic: 40,000 keys took minutes.
    const started = Date.now();
    const messages = messagesOf(`${keys(9000)}k0: again\n`);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(messages).toEqual([
      expect.stringMatching(/^baton\.yml:9014:1: k0: duplicate key `k0` \(first set on line 14\)/),
    ]);
    expect(messagesOf(keys(9000))).toHaveLength(9000);
  });
});

describe('values out of bounds', () => {
  const withTop = (extra: string) => messagesOf(`${minimal}${extra}`);

  it.each([
    ['lock:\n  lease: 99999999999999999999h\n', /:15:10: lock\.lease: expected at most 168h$/],
    ['lock:\n  lease: 0ms\n', /:15:10: lock\.lease: expected at least 10s$/],
    ['lock:\n  lease: 9s\n', /lock\.lease: expected at least 10s$/],
    ['watch:\n  duration: 25h\n', /:15:13: watch\.duration: expected at most 24h$/],
    ['smoke:\n  - { path: /, maxMs: 99999999999999 }\n', /smoke\[0\]\.maxMs: expected at most 86400000$/],
  ])('%j is a located error', (extra, message) => {
    expect(withTop(extra)).toEqual([expect.stringMatching(message)]);
  });

  it('a lease of a week is accepted', () => {
    expect(withTop('lock:\n  lease: 168h\n')).toEqual([]);
  });

  it.each([
    ['/', /app\.path: expected a folder of the application's own, not \/$/],
    ['/srv/../etc', /app\.path: expected a path without \. or \.\. in it/],
    ['/srv/./shop', /app\.path: expected a path without \. or \.\. in it/],
    ['"/srv/shop\\nrm -rf /"', /app\.path: expected a path on one line, without tabs$/],
    ['"/srv/\\tshop"', /app\.path: expected a path on one line, without tabs$/],
    ['"/srv/\\e[2Jshop"', /app\.path: control character U\+001B in this text/],
    ['/etc', /app\.path: expected a folder of the application's own, not the system folder \/etc$/],
    ['/usr/', /app\.path: expected a folder of the application's own, not the system folder \/usr$/],
    ['/home', /app\.path: expected a folder of the application's own, not the system folder \/home$/],
  ])('app.path %s is refused', (path, message) => {
    const messages = messagesOf(minimal.replace('path: /srv/shop', `path: ${path}`));
    expect(messages).toEqual([expect.stringMatching(new RegExp(`^baton\\.yml:5:9: ${message.source}`))]);
  });

  it('app.path below a system folder is fine', () => {
    expect(messagesOf(minimal.replace('path: /srv/shop', 'path: /var/www/shop'))).toEqual([]);
  });

  it('a smoke regex that does not compile is refused at its key, without quoting it', () => {
    const messages = withTop('smoke:\n  - { path: /, matches: "([" }\n');
    expect(messages).toEqual([
      expect.stringMatching(
        /^baton\.yml:15:25: smoke\[0\]\.matches: expected a regular expression: unterminated character class$/,
      ),
    ]);
    expect(withTop('smoke:\n  - { path: /, matches: "^Welcome (back)?" }\n')).toEqual([]);
  });

  it.each([
    [
      'haproxy',
      'web;disable server web/web1',
      /balancer\.backend: expected a haproxy backend name: letters, digits and _ \. : -$/,
    ],
    ['haproxy', 'web web', /expected a haproxy backend name/],
    ['apache', 'web:1', /expected an apache balancer name: letters, digits and _ \. -$/],
    ['nginx', 'web}', /expected an nginx upstream name/],
  ])('a %s backend %j is refused at validation', (driver, backend, message) => {
    const base = readFileSync(join(VALID, driver === 'haproxy' ? 'minimal.yml' : `${driver}.yml`), 'utf8');
    const text = base.replace(/backend: \S+/, `backend: "${backend}"`);
    expect(messagesOf(text)).toEqual([expect.stringMatching(message)]);
  });

  it('a member name the drivers cannot use is refused', () => {
    const text = minimal.replace(
      'hosts: [web-1.prod-b.example.com]',
      'hosts: [{ host: web-1.prod-b.example.com, member: "web1 disable" }]',
    );
    expect(messagesOf(text)).toEqual([
      expect.stringMatching(/clusters\.b\.hosts\[0\]\.member: expected a balancer member name/),
    ]);
  });

  it('a control character written as an escape is refused wherever it is', () => {
    expect(withTop('resolve:\n  "a\\rb": 10.0.0.1\n')).toEqual([
      expect.stringMatching(/^baton\.yml:15:3: resolve\.a\rb: control character U\+000D in this key$/),
    ]);
    expect(messagesOf(minimal.replace('systemctl restart shop', '"systemctl restart shop\\e]8;;http://x\\a"'))).toEqual(
      [expect.stringMatching(/app\.restart: control character U\+001B/)],
    );
  });
});
