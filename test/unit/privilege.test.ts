import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { replaceFileArgv } from '../../src/balancers/balancer-files.js';
import {
  argvForUser,
  isRaised,
  raised,
  sudoAllowedArgv,
  sudoersLine,
  systemPathPrefix,
  unraised,
  whereIsArgv,
} from '../../src/transport/privilege.js';
import { quoteArgv } from '../../src/transport/quote.js';

describe('privileges as data', () => {
  it('raises a command with sudo -n only when asked', () => {
    expect(raised(['nginx', '-t'], true)).toEqual(['sudo', '-n', '--', 'nginx', '-t']);
    expect(raised(['nginx', '-t'], false)).toEqual(['nginx', '-t']);
    expect(isRaised(['sudo', '-n', '--', 'nginx'])).toBe(true);
    expect(isRaised(['sudo', '-n', '--'])).toBe(false);
    expect(isRaised(['sudo', 'nginx'])).toBe(false);
    expect(unraised(['sudo', '-n', '--', 'nginx', '-t'])).toEqual(['nginx', '-t']);
  });

  it('root runs a raised command directly; any other user keeps the sudo prefix', () => {
    const argv = raised(['apache2ctl', 'configtest'], true);
    expect(argvForUser(argv, 'root')).toEqual(['apache2ctl', 'configtest']);
    expect(argvForUser(argv, 'deploy')).toEqual(argv);
    expect(argvForUser(['true'], 'root')).toEqual(['true']);
  });

  it('gives a non-root shell the system folders, so /usr/sbin tools are found without sudo', () => {
    expect(systemPathPrefix('root')).toBe('');
    const line = systemPathPrefix('deploy') + quoteArgv(['sh', '-c', 'echo "$PATH"']);
    const out = execFileSync('sh', ['-c', line], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' }).trim();
    expect(out).toBe('/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
  });

  it('asks sudo whether exactly that command is allowed, and says the sudoers line that allows it', () => {
    const argv = raised(['haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg'], true);
    expect(sudoAllowedArgv(argv)).toEqual([
      'sudo',
      '-n',
      '-l',
      '--',
      'haproxy',
      '-c',
      '-f',
      '/etc/haproxy/haproxy.cfg',
    ]);
    expect(() => sudoAllowedArgv(['haproxy'])).toThrow(/raised command/);
    expect(sudoersLine('deploy', '/usr/sbin/haproxy', argv)).toBe(
      'deploy ALL=(root) NOPASSWD: /usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg',
    );
    // sudoers reads , : = and \ as syntax inside arguments
    expect(sudoersLine('deploy', '/usr/bin/x', raised(['x', 'a=b,c:d'], true))).toBe(
      'deploy ALL=(root) NOPASSWD: /usr/bin/x a\\=b\\,c\\:d',
    );
  });

  it('finds where a raised program lives, through the PATH root would have', () => {
    const [file, ...args] = whereIsArgv(raised(['sh', '-c', 'true'], true));
    expect(execFileSync(file as string, args, { encoding: 'utf8' }).trim()).toMatch(/\/sh$/);
    const [f2, ...a2] = whereIsArgv(raised(['no-such-tool-here'], true));
    expect(execFileSync(f2 as string, a2, { encoding: 'utf8' }).trim()).toBe('no-such-tool-here');
  });

  it('a config swap whose test is raised runs the test directly as root (no sudo needed)', () => {
    const argv = replaceFileArgv('/etc/x.conf', raised(['nginx', '-t'], true));
    const script = argv[2] as string;
    // Run only the prefix-dropping line against fake positional parameters, as root and not.
    const line = script.split('\n').find((l) => l.includes('id -u')) as string;
    const probe = `${line.replace('"$(id -u)"', '"$ID"')}\necho "$@"`;
    const run = (id: string) =>
      execFileSync('sh', ['-c', probe, 'sh', 'sudo', '-n', '--', 'nginx', '-t'], {
        env: { ID: id, PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
      }).trim();
    expect(run('0')).toBe('nginx -t');
    expect(run('1000')).toBe('sudo -n -- nginx -t');
  });
});
