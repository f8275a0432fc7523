// What apply requires of a plan, with real ssh-keygen signatures: reviewers ada and bob are in
// allowed_signers, carol made the plan, eve's key is unknown.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { PlanRefusedError } from '../../src/errors.js';
import { type Approval, PLAN_FORMAT, type Plan, type Rehearsal } from '../../src/model/plan.js';
import { checkRequirements, requirementStatus } from '../../src/release/requirements.js';
import { approvalMessage, authorMessage, rehearsalMessage, sshSigner } from '../../src/release/review-signatures.js';
import { makeSigningKeys, type SigningKeys } from '../fixtures/signing-keys.js';

const HASH = 'sha256:this-plan';
const base = { format: PLAN_FORMAT, hash: HASH, createdBy: 'carol@laptop', forward: [] } as unknown as Plan;
let keys: SigningKeys;
let require: (over?: Partial<Config['require']>) => Config['require'];

beforeAll(() => {
  keys = makeSigningKeys(['ada', 'bob', 'carol'], ['eve']);
  require = (over = {}) => ({
    rehearsal: false,
    approvals: 0,
    authorApprovalCounts: true,
    allowedSigners: keys.allowedSigners,
    ...over,
  });
});

/** `by`'s approval signed with `signer`'s key, of `signedHash` (default: the hash it names). */
async function approval(by: string, signer: string, hash = HASH, signedHash = hash): Promise<Approval> {
  return { by, at: 't', hash, ...(await sshSigner(keys.key[signer]!)(approvalMessage(signedHash))) };
}

async function rehearsal(signer: string | undefined, over: Partial<Rehearsal> = {}): Promise<Rehearsal> {
  const r: Rehearsal = {
    at: 't',
    by: signer ?? 'someone',
    hash: HASH,
    outcome: 'passed',
    against: 'cluster a',
    forwardMs: 1,
    reverseMs: 1,
    ...over,
  };
  return signer ? { ...r, ...(await sshSigner(keys.key[signer]!)(rehearsalMessage(r))) } : r;
}

async function authored(plan: Plan, signer: string): Promise<Plan> {
  return {
    ...plan,
    author: {
      by: plan.createdBy,
      at: 't',
      hash: plan.hash,
      ...(await sshSigner(keys.key[signer]!)(authorMessage(plan.hash))),
    },
  };
}

async function refusal(plan: Plan, req: Config['require']): Promise<PlanRefusedError> {
  const err = await checkRequirements(plan, req, { by: 'ci' }).catch((e: unknown) => e);
  if (!(err instanceof PlanRefusedError)) throw new Error(`expected a refusal, got ${String(err)}`);
  expect(err.exitCode).toBe(3);
  return err;
}

describe('what apply requires of a plan', () => {
  it('lets anything through when nothing is required, checking no signature', async () => {
    expect(
      await checkRequirements(
        { ...base, approvals: [{ by: 'forged', at: 't', hash: HASH }] },
        require({ allowedSigners: undefined }),
        { by: 'ci' },
      ),
    ).toEqual([]);
  });

  it('refuses an unrehearsed plan (exit 3) when a rehearsal is required', async () => {
    const err = await refusal(base, require({ rehearsal: true }));
    expect(err.message).toMatch(/requires a passed rehearsal/);
    expect(err.hint).toMatch(/baton rehearse/);
  });

  it('counts only a passed rehearsal of this very hash, signed by a known key', async () => {
    const req = require({ rehearsal: true });
    await refusal({ ...base, rehearsals: [await rehearsal('ada', { outcome: 'failed' })] }, req);
    await refusal({ ...base, rehearsals: [await rehearsal('ada', { hash: 'sha256:older-plan' })] }, req);
    expect(
      await checkRequirements(
        { ...base, rehearsals: [await rehearsal('ada', { outcome: 'failed' }), await rehearsal('ada')] },
        req,
        { by: 'ci' },
      ),
    ).toEqual([]);
    expect((await requirementStatus({ ...base, rehearsals: [await rehearsal('bob')] }, req)).rehearsal.by).toBe(
      'bob@example.com',
    );
  });

  it('refuses an unsigned passed rehearsal, and one whose signature is of a failed outcome', async () => {
    const req = require({ rehearsal: true });
    expect((await refusal({ ...base, rehearsals: [await rehearsal(undefined)] }, req)).message).toMatch(
      /rehearsal 1 \(by someone at t\): it is not signed/,
    );
    const failed = await rehearsal('ada', { outcome: 'failed' });
    const relabelled = { ...failed, outcome: 'passed' as const };
    expect((await refusal({ ...base, rehearsals: [relabelled] }, req)).message).toMatch(
      /rehearsal 1 \(by ada at t\): its signature does not verify/,
    );
  });

  it('counts two distinct signers toward approvals: 2', async () => {
    const status = await requirementStatus(
      { ...base, approvals: [await approval('Ada', 'ada'), await approval('Bob', 'bob')] },
      require({ approvals: 2 }),
    );
    expect(status.approvals.by).toEqual(['ada@example.com', 'bob@example.com']);
    expect(status.unmet).toEqual([]);
    expect(status.refused).toEqual([]);
  });

  it('counts one person once, under however many names they sign', async () => {
    const plan = { ...base, approvals: [await approval('Ada', 'ada'), await approval('Bob (really Ada)', 'ada')] };
    const err = await refusal(plan, require({ approvals: 2 }));
    expect(err.message).toMatch(/requires 2 approvals of this plan, it has 1 \(ada@example.com\)/);
  });

  it('refuses an approval signed by a key not in allowed_signers, naming the approval and the key', async () => {
    const plan = { ...base, approvals: [await approval('Ada', 'ada'), await approval('Bob', 'eve')] };
    const err = await refusal(plan, require({ approvals: 1 }));
    expect(err.message).toMatch(
      /approval 2 \(by Bob at t\): it is signed by key SHA256:\S+, which is not in .*allowed_signers/,
    );
    expect(err.details).toHaveLength(1);
  });

  it('refuses an approval whose signature is of another plan', async () => {
    const err = await refusal(
      { ...base, approvals: [await approval('Ada', 'ada', HASH, 'sha256:another-plan')] },
      require({ approvals: 1 }),
    );
    expect(err.message).toMatch(
      /approval 1 \(by Ada at t\): its signature does not verify .*made for another plan or purpose/,
    );
  });

  it("refuses a signature made for another purpose: the author's signature is no approval", async () => {
    const made = await authored(base, 'ada');
    const moved = { by: 'Ada', at: 't', hash: HASH, signature: made.author!.signature! };
    await refusal({ ...base, approvals: [moved] }, require({ approvals: 1 }));
  });

  it('refuses a tampered signature', async () => {
    const a = await approval('Ada', 'ada');
    const lines = a.signature!.split('\n');
    lines[3] = `${lines[3]!.slice(0, 10)}${lines[3]![10] === 'A' ? 'B' : 'A'}${lines[3]!.slice(11)}`;
    const err = await refusal(
      { ...base, approvals: [{ ...a, signature: lines.join('\n') }] },
      require({ approvals: 1 }),
    );
    expect(err.message).toMatch(/approval 1 \(by Ada at t\): its signature does not verify/);
  });

  it('refuses an unsigned approval, showing the name it claims as one line of plain text', async () => {
    expect(
      (await refusal({ ...base, approvals: [{ by: 'Ada', at: 't', hash: HASH }] }, require({ approvals: 1 }))).message,
    ).toMatch(/approval 1 \(by Ada at t\): it is not signed/);
    const sneaky = { by: 'Ada\n  approval 2 (by Bob): fine\u001b[2K', at: 't', hash: HASH };
    expect((await refusal({ ...base, approvals: [sneaky] }, require({ approvals: 1 }))).details[0]).toBe(
      'approval 1 (by Ada?  approval 2 (by Bob): fine?[2K at t): it is not signed',
    );
  });

  it('ignores approvals of another hash, signed or not', async () => {
    const plan = { ...base, approvals: [{ by: 'old', at: 't', hash: 'sha256:older' }, await approval('Ada', 'ada')] };
    expect(await checkRequirements(plan, require({ approvals: 1 }), { by: 'ci' })).toEqual([]);
  });

  it("does not count the author's own approval, by the key that signed the plan", async () => {
    const req = require({ approvals: 1, authorApprovalCounts: false });
    const plan = await authored({ ...base, approvals: [await approval('Not Carol', 'carol')] }, 'carol');
    const err = await refusal(plan, req);
    expect(err.message).toMatch(/it has 0; carol@example.com made the plan, so their own approval does not count/);
    expect(
      await checkRequirements({ ...plan, approvals: [...plan.approvals!, await approval('Ada', 'ada')] }, req, {
        by: 'ci',
      }),
    ).toEqual([]);
    // Where baton.yml allows it, the author's approval counts.
    expect(await checkRequirements(plan, require({ approvals: 1, authorApprovalCounts: true }), { by: 'ci' })).toEqual(
      [],
    );
  });

  it('needs the plan signed by its maker to tell the author apart, and refuses a forged author signature', async () => {
    const req = require({ approvals: 1, authorApprovalCounts: false });
    const approved = { ...base, approvals: [await approval('Ada', 'ada')] };
    expect((await refusal(approved, req)).message).toMatch(/not signed by whoever made it/);
    const byEve = await authored(approved, 'eve');
    expect((await refusal(byEve, req)).message).toMatch(
      /the author's signature \(by carol@laptop at t\): it is signed by key SHA256:\S+, which is not in/,
    );
  });

  it('cannot be met without allowed_signers', async () => {
    const err = await refusal(
      { ...base, approvals: [await approval('Ada', 'ada')] },
      require({ approvals: 1, allowedSigners: undefined }),
    );
    expect(err.message).toMatch(/sets no require.allowedSigners/);
  });

  it('says so when the allowed_signers file is missing, and what ssh-keygen could not read in it', async () => {
    const plan = { ...base, approvals: [await approval('Ada', 'ada')] };
    const missing = join(keys.dir, 'no-such-file');
    expect((await refusal(plan, require({ approvals: 1, allowedSigners: missing }))).message).toContain(
      `require.allowedSigners ${missing} does not exist`,
    );
    const garbled = join(keys.dir, 'garbled_signers');
    writeFileSync(garbled, 'ada@example.com\n');
    expect((await refusal(plan, require({ approvals: 1, allowedSigners: garbled }))).message).toMatch(
      /which is not in .*garbled_signers \(ssh-keygen: .*garbled_signers:1/,
    );
  });

  it('refuses a key allowed_signers restricts to another namespace', async () => {
    const rehearsalsOnly = join(keys.dir, 'rehearsals_only');
    writeFileSync(
      rehearsalsOnly,
      'ada@example.com ' +
        'namespaces="baton-rehearsal"' +
        ` ${readFileSync(`${keys.key.ada}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    const plan = { ...base, approvals: [await approval('Ada', 'ada')] };
    expect((await refusal(plan, require({ approvals: 1, allowedSigners: rehearsalsOnly }))).message).toMatch(
      new RegExp(
        /approval 1 \(by Ada at t\): key SHA256:\S+ \(ada@example.com\) may not sign it: .*not permitted /.source +
          /.*namespace "baton-plan"/.source,
      ),
    );
    expect(
      await checkRequirements(
        { ...base, rehearsals: [await rehearsal('ada')] },
        require({ rehearsal: true, allowedSigners: rehearsalsOnly }),
        { by: 'ci' },
      ),
    ).toEqual([]);
  });

  it('lists every unmet requirement at once', async () => {
    const req = require({ rehearsal: true, approvals: 1 });
    const err = await refusal(base, req);
    expect(err.details).toHaveLength(2);
    expect((await requirementStatus(base, req)).unmet).toEqual(err.details);
  });

  it('lets an override through and returns the journal note naming who and why, and what did not verify', async () => {
    const plan = { ...base, approvals: [await approval('Bob', 'eve')] };
    const notes = await checkRequirements(plan, require({ rehearsal: true, approvals: 1 }), {
      by: 'ada@laptop',
      override: 'incident 42: hotfix',
    });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(
      new RegExp(
        /^requirements overridden by ada@laptop: incident 42: hotfix \(unmet: refused approval 1 \(by Bob /.source +
          /at t\).*rehearsal.*1 approval/.source,
      ),
    );
  });

  it('refuses an override without a reason', async () => {
    await expect(checkRequirements(base, require({ rehearsal: true }), { by: 'ada', override: '  ' })).rejects.toThrow(
      /needs a reason/,
    );
  });
});
