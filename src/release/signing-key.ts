// Which SSH key a reviewer signs with: --key, else git's user.signingkey when it is an SSH key
// (the one git signs commits with), else a usage error saying how to give one.
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { UserError } from '../errors.js';
import { gitConfig } from './approve.js';

const HOW =
  'pass --key ~/.ssh/id_ed25519 (a private key, or a public key whose private half is in ssh-agent), ' +
  'or set it once with `git config --global user.signingkey ~/.ssh/id_ed25519.pub`';

/** The key file to give `ssh-keygen -Y sign -f`; refuses (exit 64) when there is none. */
export function signingKey(flag?: string, git: (key: string) => string | undefined = gitConfig): string {
  if (flag !== undefined) {
    const file = expand(flag);
    if (!existsSync(file)) throw new UserError(`no key file at ${flag}`, HOW);
    return file;
  }
  const configured = git('user.signingkey');
  if (!configured)
    throw new UserError('no SSH key to sign with: --key is not given and git config user.signingkey is unset', HOW);
  // git also accepts the public key itself (`key::ssh-ed25519 AAAA…`): ssh-keygen finds its private half in the agent.
  const literal = /^(?:key::)?((?:ssh|ecdsa|sk)-\S+ \S+)/.exec(configured)?.[1];
  if (literal) {
    // One file per key, written again each time: nothing piles up in the temp folder.
    const file = join(
      tmpdir(),
      `baton-signingkey-${createHash('sha256').update(literal).digest('hex').slice(0, 16)}.pub`,
    );
    writeFileSync(file, `${literal}\n`);
    return file;
  }
  const file = expand(configured);
  if (!existsSync(file))
    throw new UserError(
      `git config user.signingkey is ${configured}, which is not an SSH key file (a GPG key id?)`,
      HOW,
    );
  return file;
}

function expand(p: string): string {
  return resolve(p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);
}

/**
 * The key a plan's maker signs it with: --key, or where apply must tell the author's approval from a reviewer's, the
 * usual choice.
 */
export function authorKey(
  flag: string | undefined,
  require: Config['require'],
  git: (key: string) => string | undefined = gitConfig,
): string | undefined {
  return flag !== undefined || (require.approvals > 0 && !require.authorApprovalCounts)
    ? signingKey(flag, git)
    : undefined;
}
