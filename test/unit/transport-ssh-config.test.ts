import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSshConfig, resolveSshTarget, type SshEnv, type SshSettings } from '../../src/transport/ssh-config.js';

const home = mkdtempSync(join(tmpdir(), 'baton-home-'));
const env: SshEnv = { home, localUser: 'me' };
const base: SshSettings = { keepalive: 15_000, connectTimeout: 10_000 };
const configFile = join(home, 'lab_config');
writeFileSync(
  configFile,
  `Host web-*
  HostName 10.213.7.%h
  Port 2222
Host web-1
  User deploy
Host *.baton.test
  User root
  IdentityFile ~/keys/lab
  UserKnownHostsFile /run/baton-lab/known_hosts ~/.ssh/known_hosts2
Host pinned
  HostKeyAlias pinned-key
  Match exec "touch ${join(home, 'exec-ran')}"
  User nobody
`,
);

describe('resolveSshTarget', () => {
  it('applies HostName (with %h), Port, User, IdentityFile and UserKnownHostsFile from ssh_config', async () => {
    const cfg = await loadSshConfig(configFile, env);
    const t = await resolveSshTarget('web-1.prod-a.baton.test', base, cfg, env);
    expect(t).toMatchObject({
      hostName: '10.213.7.web-1.prod-a.baton.test',
      port: 2222,
      user: 'root',
      identityFiles: [join(home, 'keys/lab')],
      knownHostsFiles: ['/run/baton-lab/known_hosts', join(home, '.ssh/known_hosts2')],
    });
    // alias as given, and the HostName with its port since the port is not 22
    expect(t.knownHostNames).toEqual([
      'web-1.prod-a.baton.test',
      '[10.213.7.web-1.prod-a.baton.test]:2222',
      '[web-1.prod-a.baton.test]:2222',
    ]);
  });

  it('lets baton.yml settings win over ssh_config, like ssh command-line flags', async () => {
    const cfg = await loadSshConfig(configFile, env);
    const t = await resolveSshTarget(
      'web-1.x.baton.test',
      { ...base, user: 'ops', port: 22, identity: '/k/id', knownHosts: '/k/kh' },
      cfg,
      env,
    );
    expect(t).toMatchObject({ user: 'ops', port: 22, identityFiles: ['/k/id'], knownHostsFiles: ['/k/kh'] });
    expect(t.knownHostNames).toEqual(['web-1.x.baton.test', '10.213.7.web-1.x.baton.test']);
  });

  it('treats the default knownHosts as unset so UserKnownHostsFile applies', async () => {
    const cfg = await loadSshConfig(configFile, env);
    const t = await resolveSshTarget(
      'lb.baton.test',
      { ...base, knownHosts: join(home, '.ssh/known_hosts') },
      cfg,
      env,
    );
    expect(t.knownHostsFiles[0]).toBe('/run/baton-lab/known_hosts');
  });

  it('falls back to OpenSSH defaults without a config, and never runs Match exec', async () => {
    const t = await resolveSshTarget('plain.example', base, undefined, env);
    expect(t).toMatchObject({
      hostName: 'plain.example',
      port: 22,
      user: 'me',
      identityFiles: [],
      knownHostsFiles: [join(home, '.ssh/known_hosts')],
    });
    const cfg = await loadSshConfig(configFile, env);
    const p = await resolveSshTarget('pinned', base, cfg, env);
    expect(p.knownHostNames).toEqual(['pinned-key']);
    expect(await import('node:fs').then((fs) => fs.existsSync(join(home, 'exec-ran')))).toBe(false);
  });

  it('uses ~/.ssh/config only when it exists, but an explicit file must', async () => {
    expect(await loadSshConfig(undefined, env)).toBeUndefined();
    await expect(loadSshConfig(join(home, 'missing'), env)).rejects.toThrow(/cannot read ssh_config/);
  });
});

describe('resolveSshTarget with a bastion', () => {
  const jumpConfig = join(home, 'jump_config');
  writeFileSync(
    jumpConfig,
    `Host bastion
  HostName 203.0.113.9
  Port 2200
  User jumper
  IdentityFile ~/keys/bastion
Host direct-*
  ProxyJump none
Host legacy
  ProxyCommand ssh -W %h:%p bastion
Host old-style
  ProxyCommand none
Host chained
  ProxyJump bastion,other
Host looping
  ProxyJump far
Host far
  ProxyJump bastion
Host command-first
  ProxyCommand nc %h %p
  ProxyJump bastion
Host *.internal
  ProxyJump ops@bastion:2222
Host web-* bastion
  ProxyJump bastion
`,
  );
  const resolve = async (alias: string, settings: Partial<SshSettings> = {}) =>
    resolveSshTarget(alias, { ...base, ...settings }, await loadSshConfig(jumpConfig, env), env);

  it('reaches a host through its ProxyJump, the bastion resolved from its own ssh_config entry', async () => {
    const t = await resolve('web-1', { user: 'deploy', port: 2022, identity: '/k/deploy' });
    expect(t).toMatchObject({ alias: 'web-1', hostName: 'web-1', port: 2022, user: 'deploy' });
    // ssh.user and ssh.port are the hosts', as with ssh -J; ssh.identity is tried after the bastion's own key.
    expect(t.via).toMatchObject({
      alias: 'bastion',
      hostName: '203.0.113.9',
      port: 2200,
      user: 'jumper',
      identityFiles: [join(home, 'keys/bastion'), '/k/deploy'],
    });
    expect(t.via?.knownHostNames).toEqual(['bastion', '[203.0.113.9]:2200', '[bastion]:2200']);
    expect(t.via?.via).toBeUndefined();
  });

  it('takes the user and port written in the jump host over its ssh_config', async () => {
    const t = await resolve('db.internal');
    expect(t.via).toMatchObject({ alias: 'bastion', hostName: '203.0.113.9', port: 2222, user: 'ops' });
  });

  it('dials directly with ProxyJump none, and the bastion itself directly', async () => {
    expect((await resolve('direct-1')).via).toBeUndefined();
    expect((await resolve('bastion')).via).toBeUndefined();
    expect((await resolve('old-style')).via).toBeUndefined();
  });

  it('lets ssh.proxy win over ProxyJump (like ssh -J), and ssh.proxy none dial directly', async () => {
    const t = await resolve('direct-1', { proxy: 'ssh://root@jump.example:2022' });
    expect(t.via).toMatchObject({ alias: 'jump.example', hostName: 'jump.example', port: 2022, user: 'root' });
    expect((await resolve('web-1', { proxy: 'none' })).via).toBeUndefined();
    // ssh.proxy overrides a ProxyCommand too, as -J does.
    expect((await resolve('legacy', { proxy: 'bastion' })).via).toMatchObject({ hostName: '203.0.113.9' });
    expect((await resolve('x', { proxy: '[2001:db8::1]:22' })).via).toMatchObject({
      hostName: '2001:db8::1',
      port: 22,
    });
  });

  it('refuses ProxyCommand rather than dial around it, whichever of the two comes first', async () => {
    await expect(resolve('legacy')).rejects.toMatchObject({
      exitCode: 64,
      message: 'ssh_config gives host legacy ProxyCommand "ssh -W %h:%p bastion": baton does not run proxy commands',
    });
    await expect(resolve('command-first')).rejects.toThrow(/ProxyCommand "nc %h %p"/);
  });

  it("refuses a chain of jump hosts, written or through the bastion's own ProxyJump (exit 64)", async () => {
    await expect(resolve('chained')).rejects.toMatchObject({
      exitCode: 64,
      message: 'ssh_config ProxyJump for chained is a chain of jump hosts (bastion,other): baton follows one jump host',
    });
    await expect(resolve('looping')).rejects.toMatchObject({
      exitCode: 64,
      message:
        'host looping is reached through the bastion far, which ssh_config reaches through bastion: ' +
        'baton follows one jump host, not a chain',
    });
    await expect(resolve('web-1', { proxy: 'a@b@c' })).rejects.toThrow(
      /ssh.proxy in baton.yml is "a@b@c", which is not a jump host/,
    );
  });
});
