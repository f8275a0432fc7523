// Signing and checking short messages with SSH keys through `ssh-keygen -Y`, the mechanism git
// uses for signed commits: argv builders (data), and one runner that feeds the message on stdin.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { loadExeca } from '../lazy-modules.js';

export const signArgv = (key: string, namespace: string) => ['ssh-keygen', '-Y', 'sign', '-n', namespace, '-f', key];
export const checkArgv = (namespace: string, sigFile: string) => [
  'ssh-keygen',
  '-Y',
  'check-novalidate',
  '-n',
  namespace,
  '-s',
  sigFile,
];
export const findPrincipalsArgv = (allowedSigners: string, sigFile: string) => [
  'ssh-keygen',
  '-Y',
  'find-principals',
  '-s',
  sigFile,
  '-f',
  allowedSigners,
];
export const verifyArgv = (allowedSigners: string, principal: string, namespace: string, sigFile: string) => [
  'ssh-keygen',
  '-Y',
  'verify',
  '-f',
  allowedSigners,
  '-I',
  principal,
  '-n',
  namespace,
  '-s',
  sigFile,
];

interface Ran {
  code: number;
  stdout: string;
  /** The last line ssh-keygen wrote to stderr (it says why). */
  why: string;
  /** Every line it wrote to stderr. */
  stderr: string[];
}

async function run(argv: string[], input: string): Promise<Ran> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const r = await (await loadExeca())(cmd, args, { input, reject: false, stripFinalNewline: true });
  if ((r as { code?: string }).code === 'ENOENT')
    throw new UserError(
      'ssh-keygen is not installed: signing and checking approvals needs it',
      'install OpenSSH (8.2 or newer)',
    );
  const stderr = r.stderr.split('\n').filter((l) => l && !l.startsWith('Signing data on standard input'));
  return { code: r.exitCode ?? -1, stdout: r.stdout, why: stderr.at(-1) ?? '', stderr };
}

/** An SSH signature and the fingerprint of the key that made it. */
export interface SshSignature {
  /** The armored `-----BEGIN SSH SIGNATURE-----` text. */
  signature: string;
  /** SHA256 fingerprint of the signing key. */
  key: string;
}

/** Sign a message with a private key file, or a public key file whose private half is in ssh-agent. */
export async function sshSign(key: string, namespace: string, message: string): Promise<SshSignature> {
  const r = await run(signArgv(key, namespace), message);
  if (r.code !== 0 || !r.stdout.includes('BEGIN SSH SIGNATURE')) {
    throw new UserError(
      `cannot sign with ${key}: ${r.why || `ssh-keygen exited ${r.code}`}`,
      'pass --key with a private key file, or a public key file whose private half is loaded in ssh-agent (ssh-add)',
    );
  }
  const signature = `${r.stdout.trim()}\n`;
  const checked = await withSignatureFile(signature, (file) => sshCheck(namespace, message, file));
  if ('why' in checked)
    throw new UserError(`ssh-keygen made a signature with ${key} that does not check: ${checked.why}`);
  return { signature, key: checked.key };
}

/** Whether the signature is of this message in this namespace, by whichever key: that key's fingerprint, or why not. */
export async function sshCheck(
  namespace: string,
  message: string,
  sigFile: string,
): Promise<{ key: string } | { why: string }> {
  const r = await run(checkArgv(namespace, sigFile), message);
  const key = /(SHA256:[A-Za-z0-9+/=]+)/.exec(r.stdout)?.[1];
  return r.code === 0 && key ? { key } : { why: r.why || 'the signature does not verify' };
}

/**
 * The principals allowed_signers gives the signature's key, in file order (none: the key is unknown),
 * and what ssh-keygen said of the file besides (a line it could not read, say).
 */
export async function sshFindPrincipals(
  allowedSigners: string,
  sigFile: string,
): Promise<{ principals: string[]; complaints: string[] }> {
  const r = await run(findPrincipalsArgv(allowedSigners, sigFile), '');
  const complaints = r.stderr.filter((l) => !l.startsWith('No principal matched'));
  return {
    principals:
      r.code === 0
        ? r.stdout
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
        : [],
    complaints,
  };
}

/** Whether allowed_signers lets this principal sign this message in this namespace: true, or why not. */
export async function sshVerify(
  allowedSigners: string,
  principal: string,
  namespace: string,
  message: string,
  sigFile: string,
): Promise<true | string> {
  const r = await run(verifyArgv(allowedSigners, principal, namespace, sigFile), message);
  return r.code === 0 ? true : r.why || `ssh-keygen exited ${r.code}`;
}

/** ssh-keygen reads a signature only from a file: this one lives while `use` runs. */
export async function withSignatureFile<T>(signature: string, use: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sig-'));
  try {
    const file = join(dir, 'record.sig');
    writeFileSync(file, signature);
    return await use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
