// Real SSH keys for tests of signed approvals: reviewers listed in an allowed_signers file, and a
// key nobody listed. Made once per test file with ssh-keygen, in a temp directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SigningKeys {
  dir: string;
  /** Private key file per name. */
  key: Record<string, string>;
  allowedSigners: string;
}

/** Keys for `listed` (each principal `<name>@example.com` in allowed_signers) and for `unlisted`. */
export function makeSigningKeys(listed: string[], unlisted: string[] = []): SigningKeys {
  const dir = mkdtempSync(join(tmpdir(), 'baton-keys-'));
  const key: Record<string, string> = {};
  for (const name of [...listed, ...unlisted]) {
    key[name] = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key[name]!]);
  }
  const allowedSigners = join(dir, 'allowed_signers');
  const publicKey = (name: string) => readFileSync(`${key[name]}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(allowedSigners, listed.map((name) => `${name}@example.com ${publicKey(name)}\n`).join(''));
  return { dir, key, allowedSigners };
}
