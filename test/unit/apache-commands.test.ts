import { describe, expect, it } from 'vitest';
import {
  checkLoadFactor,
  managerChangeArgv,
  managerForm,
  managerXmlArgv,
  refererOf,
  splitChangeAnswer,
} from '../../src/balancers/apache-commands.js';
import { countLogArgv, escapeEre, parseCounts, replaceFileArgv } from '../../src/balancers/balancer-files.js';
import { UserError } from '../../src/errors.js';

const URL_ = 'http://10.213.7.2:8080/balancer-manager';

describe('balancer-manager requests', () => {
  it('sends the Referer Apache demands, naming the same host', () => {
    expect(refererOf(URL_)).toBe('http://10.213.7.2:8080/balancer-manager');
    expect(managerXmlArgv(URL_, 'web')).toEqual([
      'curl',
      '-sS',
      '--max-time',
      '5',
      '-f',
      '-D',
      '-',
      '-H',
      'Referer: http://10.213.7.2:8080/balancer-manager',
      'http://10.213.7.2:8080/balancer-manager?b=web&xml=1',
    ]);
  });

  it('builds the form: balancer, worker, nonce and w_status_X', () => {
    expect(managerForm('web', 'n-1', { workerUrl: 'http://10.213.7.11:8000', flags: { N: true, D: false } })).toBe(
      'b=web&w=http%3A%2F%2F10.213.7.11%3A8000&nonce=n-1&w_status_N=1&w_status_D=0',
    );
  });

  it('posts every change and reads the XML back in one curl', () => {
    const argv = managerChangeArgv(URL_, 'web', 'n', [
      { workerUrl: 'http://a:1', flags: { N: true } },
      { workerUrl: 'http://b:1', flags: { N: true } },
    ]);
    expect(argv[0]).toBe('curl');
    expect(argv.filter((a) => a === 'curl')).toHaveLength(1);
    expect(argv.filter((a) => a === '--next')).toHaveLength(2);
    expect(argv.filter((a) => a.startsWith('Referer: '))).toHaveLength(3);
    expect(argv.at(-1)).toBe('http://10.213.7.2:8080/balancer-manager?b=web&xml=1');
    expect(splitChangeAnswer("200;200;<?xml version='1.0'?><httpd:manager/>")).toEqual({
      codes: [200, 200],
      xml: "<?xml version='1.0'?><httpd:manager/>",
    });
  });

  it('sets a load factor with w_lf, beside the flags or alone', () => {
    expect(managerForm('web', 'n-1', { workerUrl: 'http://10.213.7.41:8000', loadFactor: 19 })).toBe(
      'b=web&w=http%3A%2F%2F10.213.7.41%3A8000&nonce=n-1&w_lf=19',
    );
    expect(managerChangeArgv(URL_, 'web', 'n', [{ workerUrl: 'http://a:1', loadFactor: 1 }])).toEqual([
      'curl',
      '-sS',
      '--max-time',
      '5',
      '-H',
      'Referer: http://10.213.7.2:8080/balancer-manager',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code};',
      '--data',
      'b=web&w=http%3A%2F%2Fa%3A1&nonce=n&w_lf=1',
      URL_,
      '--next',
      '-sS',
      '--max-time',
      '5',
      '-f',
      '-H',
      'Referer: http://10.213.7.2:8080/balancer-manager',
      'http://10.213.7.2:8080/balancer-manager?b=web&xml=1',
    ]);
  });

  it.each([0, 101, 1.5, -1, Number.NaN])(
    'refuses the load factor %s, which balancer-manager would ignore without a word',
    (lf) => {
      expect(() => checkLoadFactor(lf)).toThrow(`apache load factor ${String(lf)} is not a whole number from 1 to 100`);
      expect(() => managerForm('web', 'n', { workerUrl: 'http://a:1', loadFactor: lf })).toThrow(UserError);
    },
  );

  it('refuses a balancer name that could escape a query or pattern', () => {
    expect(() => managerXmlArgv(URL_, 'web&b=x')).toThrow(UserError);
  });
});

describe('file swap guarded by a validation', () => {
  it('passes the file and the test command as arguments, never inside the script', () => {
    const argv = replaceFileArgv('/etc/apache2/sites-enabled/baton.conf', ['apache2ctl', 'configtest']);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual(['sh', '/etc/apache2/sites-enabled/baton.conf', 'apache2ctl', 'configtest']);
    expect(argv[2]).not.toContain('baton.conf');
    expect(argv[2]).toContain('mv -f "$f.baton-prev" "$f"');
    expect(() => replaceFileArgv('relative.conf', ['true'])).toThrow(UserError);
  });
});

describe('log counts', () => {
  it('hands the patterns to awk through ARGV, the log last', () => {
    const argv = countLogArgv('/var/log/apache2/error.log', ['a(b|c)', 'd']);
    expect(argv.slice(-3)).toEqual(['/var/log/apache2/error.log', 'a(b|c)', 'd']);
    expect(parseCounts('3 0\n', 2)).toEqual([3, 0]);
    expect(() => parseCounts('awk: syntax error', 2)).toThrow(/expected 2 counts/);
    expect(escapeEre('10.0.0.1:80')).toBe('10\\.0\\.0\\.1:80');
  });
});

describe('the scripts, run for real', () => {
  const run = async (argv: string[], input?: string) => {
    const { execa } = await import('execa');
    const r = await execa(argv[0]!, argv.slice(1), { input: input ?? '', reject: false });
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };

  it('replaces the file when the test passes, and puts the old one back when it fails', async () => {
    const { mkdtemp, readFile, writeFile, readdir } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/baton-replace-');
    const file = `${dir}/site.conf`;
    await writeFile(file, 'old\n');
    expect((await run(replaceFileArgv(file, ['true']), 'new\n')).code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('new\n');
    const refused = await run(replaceFileArgv(file, ['sh', '-c', 'echo "Syntax error on line 3"; exit 1']), 'broken\n');
    expect(refused.code).toBe(97);
    expect(refused.stderr).toContain('Syntax error on line 3');
    expect(await readFile(file, 'utf8')).toBe('new\n');
    expect(await readdir(dir)).toEqual(['site.conf']);
  });

  it('counts matching log lines, and a missing log as none', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/baton-count-');
    await writeFile(
      `${dir}/error.log`,
      'AH00957: attempt to connect to 10.0.0.1:80 (x) failed\nother\nAH00957: ' +
        'attempt to connect to 10.0.0.2:80 (x) failed\n',
    );
    expect(
      (
        await run(
          countLogArgv(`${dir}/error.log`, [
            `AH00957: .*attempt to connect to (${escapeEre('10.0.0.1:80')}) `,
            'other',
            'none\\.',
          ]),
        )
      ).stdout,
    ).toBe('1 1 0');
    expect((await run(countLogArgv(`${dir}/missing.log`, ['x']))).stdout).toBe('0');
  });
});
