import { describe, expect, it } from 'vitest';
import { privilegeFindings, raisedInCommandLine, readPrivileges } from '../../src/checks/privileges.js';
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
    expect(privilegeFindings([r])).toEqual([{ check: 'privileges', host: 'lb', outcome: 'ok', message: 'lb: reached as root: nothing needs sudo' }]);
  });

  it('asks sudo -n -l about each command, and names the sudoers line that is missing', async () => {
    const t = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'id') return { stdout: 'deploy\n' };
      if (argv[2] === '-l' && argv.includes('haproxy')) return { stdout: '/usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg\n' };
      if (argv[2] === '-l') return { code: 1, stderr: 'sudo: a password is required\n' };
      if (argv[0] === 'sh') return { stdout: '/usr/sbin/nginx\n' };
      return { code: 1 };
    });
    const findings = privilegeFindings([await readPrivileges(t, [CONFIGTEST, RELOAD])]);
    expect(findings.map((f) => f.outcome)).toEqual(['ok', 'refused']);
    expect(findings[0]!.message).toBe('lb: deploy may run `haproxy -c -f /etc/haproxy/haproxy.cfg` through sudo -n');
    expect(findings[1]!.message).toBe(
      'lb: deploy may not run `nginx -s reload` through sudo -n (a password is required); sudoers needs: deploy ALL=(root) NOPASSWD: /usr/sbin/nginx -s reload',
    );
    expect(t.calls.filter((c) => c.argv[2] === '-l').map((c) => c.argv.join(' '))).toEqual([
      'sudo -n -l -- haproxy -c -f /etc/haproxy/haproxy.cfg',
      'sudo -n -l -- nginx -s reload',
    ]);
  });

  it('says when sudo itself is missing', async () => {
    const t = new ScriptedTransport('lb', (argv) => (argv[0] === 'id' ? { stdout: 'deploy\n' } : argv[0] === 'sudo' ? { code: 127, stderr: 'sh: 1: sudo: not found' } : { stdout: '/usr/sbin/haproxy' }));
    const [f] = privilegeFindings([await readPrivileges(t, [CONFIGTEST])]);
    expect(f!.outcome).toBe('refused');
    expect(f!.message).toContain('(sudo is not installed)');
  });

  it('a refusal for a missing sudoers line says to add it, never to lower the load', () => {
    const err = new PreflightRefusedError('preflight refused', [{ check: 'privileges', message: 'lb: deploy may not run …' }]);
    expect(err.exitCode).toBe(6);
    expect(err.hint).toContain('sudoers');
    expect(err.hint).not.toContain('lower the load');
    const capacity = new PreflightRefusedError('preflight refused', [{ check: 'capacity', message: '…' }]);
    expect(capacity.hint).toContain('lower the load');
    const reach = new PreflightRefusedError('preflight refused', [{ check: 'reach', message: '…' }]);
    expect(reach.hint).toContain('answer over SSH');
  });

  it('finds the raised command in an operator\'s own command line, when sudo could be asked about it', () => {
    expect(raisedInCommandLine('sudo -n systemctl restart shop')).toEqual(['sudo', '-n', '--', 'systemctl', 'restart', 'shop']);
    expect(raisedInCommandLine('sudo systemctl restart shop')).toEqual(['sudo', '-n', '--', 'systemctl', 'restart', 'shop']);
    expect(raisedInCommandLine('sudo -n -- /bin/systemctl reload shop.service')).toEqual(['sudo', '-n', '--', '/bin/systemctl', 'reload', 'shop.service']);
    expect(raisedInCommandLine('/srv/shop/bin/shopctl restart')).toBeUndefined();
    expect(raisedInCommandLine('sudo -n systemctl restart shop && echo ok')).toBeUndefined();
    expect(raisedInCommandLine('sudo -u app x')).toBeUndefined();
  });
});
