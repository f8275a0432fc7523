import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  privilegeFindings,
  raisedInCommandLine,
  readPrivileges,
  writableArgv,
  writableFindings,
  type WrittenPath,
} from '../../src/checks/privileges.js';
import { PreflightRefusedError } from '../../src/errors.js';
import { raised } from '../../src/transport/privilege.js';
import { ScriptedTransport } from '../helpers/scripted-transport.js';

const CONFIGTEST = raised(['haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg'], true);
const RELOAD = raised(['nginx', '-s', 'reload'], true);

describe('preflight: what the SSH user may run through sudo -n', () => {
  it('asks nothing of root', async () => {
    const t = new ScriptedTransport('lb', (argv) => (argv[0] === 'id' ? { stdout: 'root\n' } : { code: 1 }));
    const r = await readPrivileges(t, [CONFIGTEST]);
    expect(t.calls.map((c) => c.argv[0])).toEqual(['id']);
    expect(privilegeFindings([r])).toEqual([
      { check: 'privileges', host: 'lb', outcome: 'ok', message: 'lb: reached as root: nothing needs sudo' },
    ]);
  });

  it('asks sudo -n -l about each command, and names the sudoers line that is missing', async () => {
    const t = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'id') return { stdout: 'deploy\n' };
      if (argv[2] === '-l' && argv.includes('haproxy'))
        return { stdout: '/usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg\n' };
      if (argv[2] === '-l') return { code: 1, stderr: 'sudo: a password is required\n' };
      if (argv[0] === 'sh') return { stdout: '/usr/sbin/nginx\n' };
      return { code: 1 };
    });
    const findings = privilegeFindings([await readPrivileges(t, [CONFIGTEST, RELOAD])]);
    expect(findings.map((f) => f.outcome)).toEqual(['ok', 'refused']);
    expect(findings[0]!.message).toBe('lb: deploy may run `haproxy -c -f /etc/haproxy/haproxy.cfg` through sudo -n');
    expect(findings[1]!.message).toBe(
      'lb: deploy may not run `nginx -s reload` through sudo -n (a password is required); sudoers needs: ' +
        'deploy ALL=(root) NOPASSWD: /usr/sbin/nginx -s reload',
    );
    expect(t.calls.filter((c) => c.argv[2] === '-l').map((c) => c.argv.join(' '))).toEqual([
      'sudo -n -l -- haproxy -c -f /etc/haproxy/haproxy.cfg',
      'sudo -n -l -- nginx -s reload',
    ]);
  });

  it('says when sudo itself is missing', async () => {
    const t = new ScriptedTransport('lb', (argv) =>
      argv[0] === 'id'
        ? { stdout: 'deploy\n' }
        : argv[0] === 'sudo'
          ? { code: 127, stderr: 'sh: 1: sudo: not found' }
          : { stdout: '/usr/sbin/haproxy' },
    );
    const [f] = privilegeFindings([await readPrivileges(t, [CONFIGTEST])]);
    expect(f!.outcome).toBe('refused');
    expect(f!.message).toContain('(sudo is not installed)');
  });

  it('a refusal for a missing sudoers line says to add it, never to lower the load', () => {
    const err = new PreflightRefusedError('preflight refused', [
      { check: 'privileges', message: 'lb: deploy may not run …' },
    ]);
    expect(err.exitCode).toBe(6);
    expect(err.hint).toContain('sudoers');
    expect(err.hint).not.toContain('lower the load');
    const capacity = new PreflightRefusedError('preflight refused', [{ check: 'capacity', message: '…' }]);
    expect(capacity.hint).toContain('lower the load');
    const reach = new PreflightRefusedError('preflight refused', [{ check: 'reach', message: '…' }]);
    expect(reach.hint).toContain('answer over SSH');
  });

  it("finds the raised command in an operator's own command line, when sudo could be asked about it", () => {
    expect(raisedInCommandLine('sudo -n systemctl restart shop')).toEqual([
      'sudo',
      '-n',
      '--',
      'systemctl',
      'restart',
      'shop',
    ]);
    expect(raisedInCommandLine('sudo systemctl restart shop')).toEqual([
      'sudo',
      '-n',
      '--',
      'systemctl',
      'restart',
      'shop',
    ]);
    expect(raisedInCommandLine('sudo -n -- /bin/systemctl reload shop.service')).toEqual([
      'sudo',
      '-n',
      '--',
      '/bin/systemctl',
      'reload',
      'shop.service',
    ]);
    expect(raisedInCommandLine('/srv/shop/bin/shopctl restart')).toBeUndefined();
    expect(raisedInCommandLine('sudo -n systemctl restart shop && echo ok')).toBeUndefined();
    expect(raisedInCommandLine('sudo -u app x')).toBeUndefined();
  });

  it(
    'says which files and folders baton writes without sudo the user may not write, ' +
      'found the way a non-root user finds them',
    () => {
      const root = mkdtempSync(join(tmpdir(), 'baton-writable-'));
      try {
        chmodSync(root, 0o755); // mkdtemp makes it 0700: another user could not look inside
        const open = join(root, 'open');
        const closed = join(root, 'closed');
        mkdirSync(open, { mode: 0o777 });
        mkdirSync(closed, { mode: 0o755 });
        writeFileSync(join(open, 'state.json'), '{}');
        chmodSync(join(open, 'state.json'), 0o666); // the umask took the write bits
        writeFileSync(join(open, 'locked.conf'), '', { mode: 0o644 });
        chmodSync(open, 0o777);
        const paths: WrittenPath[] = [
          { host: 'lb', path: join(open, 'state.json'), kind: 'file', what: 'balancer.stateFile' },
          { host: 'lb', path: join(open, 'locked.conf'), kind: 'file', what: 'balancer.configFile' },
          { host: 'lb', path: join(closed, 'upstream.conf'), kind: 'file', what: 'balancer.upstreamFile' },
          { host: 'lb', path: join(open, 'not/yet/lock'), kind: 'folder', what: 'the release lock (lock.path)' },
          { host: 'lb', path: join(closed, 'srv/shop'), kind: 'folder', what: 'the deploy root (app.path)' },
        ];
        const [file, ...args] = writableArgv(paths) as [string, ...string[]];
        // As a user that is not root (root may write anything): nobody, when the tests run as root.
        const asUser =
          process.getuid?.() === 0
            ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', file, ...args]
            : [file, ...args];
        const stdout = execFileSync(asUser[0] as string, asUser.slice(1), { encoding: 'utf8' });
        const findings = writableFindings('lb', 'deploy', paths, stdout);
        expect(findings.map((f) => f.outcome)).toEqual(['ok', 'refused', 'refused', 'ok', 'refused']);
        expect(findings[1]!.message).toBe(
          `lb: deploy may not write balancer.configFile: ${join(open, 'locked.conf')}` +
            ' is not writable by it (baton writes a new file beside it and renames it over)',
        );
        expect(findings[2]!.message).toContain(`${closed} is not writable by it`);
        expect(findings[4]!.message).toBe(
          `lb: deploy may not write the deploy root (app.path): ${closed} is not writable by it (baton writes in it)`,
        );
        expect(findings.every((f) => f.check === 'access')).toBe(true);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  );
});
