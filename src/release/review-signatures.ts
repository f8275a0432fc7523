// What reviewers sign and how apply checks it. Each signature is of a message that names the plan
// hash and what the record says about it (approve, made, rehearsed with outcome), in a namespace of
// baton's own, so a signature cannot be moved to another plan, another purpose or another program.
// The names written in the records are not trusted: the allowed_signers principal is.
import type { Approval, Rehearsal } from '../model/plan.js';
import {
  type SshSignature,
  sshCheck,
  sshFindPrincipals,
  sshSign,
  sshVerify,
  withSignatureFile,
} from './ssh-signature.js';

/** Namespace of approvals and of the author's signature (allowed_signers may restrict a key to it). */
export const PLAN_NAMESPACE = 'baton-plan';
/** Namespace of rehearsal records. */
export const REHEARSAL_NAMESPACE = 'baton-rehearsal';

export interface SignedMessage {
  namespace: string;
  message: string;
}

export const approvalMessage = (hash: string): SignedMessage => ({
  namespace: PLAN_NAMESPACE,
  message: `baton approve ${hash}\n`,
});
export const authorMessage = (hash: string): SignedMessage => ({
  namespace: PLAN_NAMESPACE,
  message: `baton plan ${hash}\n`,
});
export const rehearsalMessage = (r: Pick<Rehearsal, 'hash' | 'outcome'>): SignedMessage => ({
  namespace: REHEARSAL_NAMESPACE,
  message: `baton rehearsal ${r.hash} ${r.outcome}\n`,
});

/** Signs a message; `sshSigner(key)` in use, any function in tests. */
export type Signer = (what: SignedMessage) => Promise<SshSignature>;

export function sshSigner(key: string): Signer {
  return ({ namespace, message }) => sshSign(key, namespace, message);
}

/** The principal a signed record verifies as, or why it does not. */
export type Verdict = { principal: string; key: string } | { problem: string };

/** Check one record's signature of `what` against allowed_signers: who signed it, or why it does not count. */
export async function verifySigned(
  allowedSigners: string,
  record: Pick<Approval, 'signature'>,
  what: SignedMessage,
): Promise<Verdict> {
  if (!record.signature) return { problem: 'it is not signed' };
  return withSignatureFile(record.signature, async (file) => {
    const checked = await sshCheck(what.namespace, what.message, file);
    if ('why' in checked)
      return {
        problem: `its signature does not verify (${checked.why}): altered, or made for another plan or purpose`,
      };
    const { principals, complaints } = await sshFindPrincipals(allowedSigners, file);
    if (!principals.length)
      return {
        problem:
          `it is signed by key ${checked.key}, ` +
          `which is not in ${allowedSigners}${complaints.length ? ` (ssh-keygen: ${complaints.join('; ')})` : ''}`,
      };
    const refusals: string[] = [];
    for (const principal of principals) {
      const ok = await sshVerify(allowedSigners, principal, what.namespace, what.message, file);
      if (ok === true) return { principal, key: checked.key };
      refusals.push(ok);
    }
    return { problem: `key ${checked.key} (${principals.join(', ')}) may not sign it: ${refusals.at(-1)}` };
  });
}
