import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  HostKeyError,
  KnownHosts,
  fingerprint,
  hostKeyError,
  knownHostName,
  parseKnownHosts,
} from '../../src/transport/known-hosts.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/known_hosts');
// name -> {blob, fingerprint as printed by ssh-keygen -lf}
const KEYS = Object.fromEntries(
  readFileSync(join(FIXTURES, 'keys'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([name, , b64, fp]) => [name!, { blob: Buffer.from(b64!, 'base64'), fp: fp! }]),
);
const key = (name: string): Buffer => KEYS[name]!.blob;
const mixed = new KnownHosts(parseKnownHosts(readFileSync(join(FIXTURES, 'mixed'), 'utf8'), 'mixed'), ['mixed']);

describe('parseKnownHosts', () => {
  it(
    'keeps host, hashed, wildcard, CA and revoked lines and skips comments, ' + 'unknown markers and malformed lines',
    () => {
      const entries = parseKnownHosts(readFileSync(join(FIXTURES, 'mixed'), 'utf8'), 'mixed');
      expect(entries.map((e) => [e.line, e.marker ?? '', e.keyType])).toEqual([
        [2, '', 'ssh-ed25519'],
        [5, '', 'ssh-ed25519'],
        [6, '', 'ssh-ed25519'],
        [7, '', 'ecdsa-sha2-nistp256'],
        [8, 'cert-authority', 'ssh-ed25519'],
        [9, 'revoked', 'ssh-ed25519'],
        [13, '', 'ssh-ed25519'],
      ]);
    },
  );
});

describe('fingerprint', () => {
  it('matches ssh-keygen -lf for ed25519 and ecdsa keys', () => {
    for (const { blob, fp } of Object.values(KEYS)) expect(fingerprint(blob)).toBe(fp);
  });
});

describe('KnownHosts.verify', () => {
  it('accepts the recorded key under any listed name, case-insensitively', () => {
    expect(mixed.verify(['web-1.prod-a.baton.test'], key('a')).status).toBe('ok');
    expect(mixed.verify(['WEB-1.Prod-A.baton.test'], key('a')).status).toBe('ok');
    expect(mixed.verify(['alias', '10.213.7.11'], key('a')).status).toBe('ok');
  });

  it('matches hashed entries, including [host]:port ones written by ssh-keygen -H', () => {
    expect(mixed.verify(['secret.example'], key('b')).status).toBe('ok');
    expect(mixed.verify([knownHostName('secret.example', 2222)], key('c')).status).toBe('ok');
    // the plain name does not match an entry recorded for another port
    expect(mixed.verify(['secret.example'], key('c')).status).toBe('changed');
    expect(mixed.verify([knownHostName('secret.example', 2200)], key('c')).status).toBe('unknown');
  });

  it('honours wildcards and negated patterns', () => {
    expect(mixed.verify(['www.wild.example'], key('e')).status).toBe('ok');
    expect(mixed.verify(['bad.wild.example'], key('e')).status).toBe('unknown');
  });

  it('reports unknown when no entry names the host, and changed when entries hold other keys', () => {
    expect(mixed.verify(['nowhere.example'], key('a'))).toEqual({ status: 'unknown' });
    const v = mixed.verify(['web-1.prod-a.baton.test'], key('b'));
    expect(v.status).toBe('changed');
    expect(v.status === 'changed' && v.expected.map((e) => e.line)).toEqual([2]);
  });

  it('never counts a @cert-authority line as a host key', () => {
    expect(mixed.verify(['web-2.prod-a.baton.test'], key('ca')).status).toBe('unknown');
  });

  it('refuses a @revoked key even where a plain line lists it', () => {
    expect(mixed.verify(['old.example'], key('rev')).status).toBe('revoked');
  });

  it('treats a missing file as empty: every host unknown', async () => {
    const kh = await KnownHosts.load(['/nonexistent/known_hosts']);
    expect(kh.verify(['web-1'], key('a')).status).toBe('unknown');
  });

  it('lists the key types on record for a host', () => {
    expect(mixed.keyTypesFor(['www.wild.example'])).toEqual(['ecdsa-sha2-nistp256']);
    expect(mixed.keyTypesFor(['web-2.prod-a.baton.test'])).toEqual([]);
  });
});

describe('keys generated and hashed by OpenSSH', () => {
  it('verifies against a known_hosts file ssh-keygen -H wrote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-kh-'));
    const gen = (name: string): Buffer => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
      return Buffer.from(readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ')[1]!, 'base64');
    };
    const host = gen('host');
    const other = gen('other');
    const file = join(dir, 'known_hosts');
    writeFileSync(
      file,
      `lb.baton.test ${readFileSync(join(dir, 'host.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    const kh = await KnownHosts.load([file]);
    expect(kh.verify(['lb.baton.test'], host).status).toBe('ok');
    expect(kh.verify(['lb.baton.test'], other).status).toBe('changed');
    expect(kh.verify(['lb2.baton.test'], host).status).toBe('unknown');
  });
});

describe('hostKeyError', () => {
  const addr = { hostName: '10.213.7.11', port: 22 };
  it('for an unknown key names the host and fingerprint and says how to add it', () => {
    const err = hostKeyError('web-1', addr, { status: 'unknown' }, key('a'), ['/k/known_hosts']);
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).toContain('web-1 (10.213.7.11)');
    expect(err.message).toContain(KEYS.a!.fp);
    expect(err.hint).toContain('ssh-keyscan -H 10.213.7.11 >> /k/known_hosts');
    expect(err.hint).toContain('out of band');
  });

  it('for a changed key names both fingerprints and where the old one is', () => {
    const v = mixed.verify(['web-1.prod-a.baton.test'], key('b'));
    if (v.status === 'ok') throw new Error('expected a refusal');
    const err = hostKeyError(
      'web-1.prod-a.baton.test',
      { hostName: 'web-1.prod-a.baton.test', port: 2222 },
      v,
      key('b'),
      ['mixed'],
    );
    expect(err.status).toBe('changed');
    expect(err.message).toContain('HOST KEY CHANGED for web-1.prod-a.baton.test ([web-1.prod-a.baton.test]:2222)');
    expect(err.message).toContain(KEYS.b!.fp);
    expect(err.message).toContain(`mixed:2 has ssh-ed25519 ${KEYS.a!.fp}`);
    expect(err.hint).toContain('ssh-keyscan -H -p 2222');
  });
});
