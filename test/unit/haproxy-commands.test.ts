import { describe, expect, it } from 'vitest';
import {
  checkName,
  configTestArgv,
  runtimeCall,
  setServerState,
  setWeight,
  showServersState,
  showStat,
  shutdownSessions,
} from '../../src/balancers/haproxy-commands.js';
import { UserError } from '../../src/errors.js';

describe('haproxy runtime API lines', () => {
  it('builds the 2.6 syntax', () => {
    expect(setServerState('web', 'web1a', 'drain')).toBe('set server web/web1a state drain');
    expect(setServerState('web', 'web1a', 'ready')).toBe('set server web/web1a state ready');
    expect(setServerState('prod_a', 'srv-1.x:y', 'maint')).toBe('set server prod_a/srv-1.x:y state maint');
    expect(shutdownSessions('web', 'web2b')).toBe('shutdown sessions server web/web2b');
    expect(showStat('web')).toBe('show stat web 6 -1');
    expect(showStat('web', 4)).toBe('show stat web 4 -1');
    expect(showServersState('web')).toBe('show servers state web');
  });

  it.each(['web;shutdown', 'a b', 'web/x', '', 'x\nshow', 'é'])('refuses the name %j', (name) => {
    expect(() => setServerState(name, 'web1a', 'drain')).toThrow(UserError);
    expect(() => setServerState('web', name, 'drain')).toThrow(/haproxy server name/);
  });

  it('names the bad value and its type', () => {
    expect(() => checkName('backend', 42 as unknown as string)).toThrow('haproxy backend name 42 (number)');
  });

  it('sends several commands on one line through socat, no shell', () => {
    const call = runtimeCall('/run/haproxy/admin.sock', [setServerState('web', 'web1a', 'drain'), showStat('web', 4)]);
    expect(call.argv).toEqual(['socat', '-t', '5', 'stdio', '/run/haproxy/admin.sock']);
    expect(call.stdin).toBe('set server web/web1a state drain;show stat web 4 -1\n');
    expect(call.commands).toHaveLength(2);
  });

  it('refuses a socket path socat would read as an address', () => {
    expect(() => runtimeCall('tcp:10.0.0.1:9999', ['show info'])).toThrow(UserError);
    expect(() => runtimeCall('/run/a,fork', ['show info'])).toThrow(UserError);
  });

  it('validates the config with haproxy -c, raised through sudo -n unless the user may run it', () => {
    expect(configTestArgv('/etc/haproxy/haproxy.cfg', true)).toEqual([
      'sudo',
      '-n',
      '--',
      'haproxy',
      '-c',
      '-f',
      '/etc/haproxy/haproxy.cfg',
    ]);
    expect(configTestArgv('/etc/haproxy/haproxy.cfg', false)).toEqual([
      'haproxy',
      '-c',
      '-f',
      '/etc/haproxy/haproxy.cfg',
    ]);
    expect(() => configTestArgv('haproxy.cfg', true)).toThrow(UserError);
  });
});

describe('haproxy weights', () => {
  it('builds `set weight BE/SRV W`, absolute, never a percentage', () => {
    expect(setWeight('web', 'web1a', 19)).toBe('set weight web/web1a 19');
    expect(setWeight('prod_a', 'srv-1.x:y', 1)).toBe('set weight prod_a/srv-1.x:y 1');
    expect(setWeight('web', 'web1a', 0)).toBe('set weight web/web1a 0');
    expect(setWeight('web', 'web1a', 256)).toBe('set weight web/web1a 256');
  });

  it.each([257, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses the weight %s, naming the server', (w) => {
    expect(() => setWeight('web', 'web1a', w)).toThrow(UserError);
    expect(() => setWeight('web', 'web1a', w)).toThrow(
      `haproxy weight ${String(w)} for web1a is not a whole number from 0 to 256`,
    );
  });

  it('refuses a server name that would split the line', () => {
    expect(() => setWeight('web', 'web1a 1;shutdown sessions server web/web1b', 1)).toThrow(/haproxy server name/);
  });
});
