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
    expect(t.knownHostNames).toEqual(['web-1.prod-a.baton.test', '[10.213.7.web-1.prod-a.baton.test]:2222', '[web-1.prod-a.baton.test]:2222']);
  });

  it('lets baton.yml settings win over ssh_config, like ssh command-line flags', async () => {
    const cfg = await loadSshConfig(configFile, env);
    const t = await resolveSshTarget('web-1.x.baton.test', { ...base, user: 'ops', port: 22, identity: '/k/id', knownHosts: '/k/kh' }, cfg, env);
    expect(t).toMatchObject({ user: 'ops', port: 22, identityFiles: ['/k/id'], knownHostsFiles: ['/k/kh'] });
    expect(t.knownHostNames).toEqual(['web-1.x.baton.test', '10.213.7.web-1.x.baton.test']);
  });

  it('treats the default knownHosts as unset so UserKnownHostsFile applies', async () => {
    const cfg = await loadSshConfig(configFile, env);
    const t = await resolveSshTarget('lb.baton.test', { ...base, knownHosts: join(home, '.ssh/known_hosts') }, cfg, env);
    expect(t.knownHostsFiles[0]).toBe('/run/baton-lab/known_hosts');
  });

  it('falls back to OpenSSH defaults without a config, and never runs Match exec', async () => {
    const t = await resolveSshTarget('plain.example', base, undefined, env);
    expect(t).toMatchObject({ hostName: 'plain.example', port: 22, user: 'me', identityFiles: [], knownHostsFiles: [join(home, '.ssh/known_hosts')] });
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
