import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { Config } from '../../src/config/config.js';
import { PlanRefusedError, UserError } from '../../src/errors.js';
import type { ObservedState, Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { approvePlan, readPlanFile, reviewer, signAsAuthor, writePlanFile } from '../../src/release/approve.js';
import { approvalMessage, authorMessage, type Signer, sshSigner } from '../../src/release/review-signatures.js';
import { sshCheck, withSignatureFile } from '../../src/release/ssh-signature.js';
import { signingKey } from '../../src/release/signing-key.js';
import { approvalChecks } from '../../src/report/select-run.js';
import { makeSigningKeys, type SigningKeys } from '../fixtures/signing-keys.js';
import { observedFixture } from '../fixtures/observed.js';

const config = {
  app: { name: 'shop', keep: 5 },
  balancer: { host: 'lb', backend: 'web', driver: 'haproxy' },
  clusters: { a: { id: 'a', internal: 'prod-a', hosts: [] }, b: { id: 'b', internal: 'prod-b', hosts: [] } },
} as unknown as Config;
const observed: ObservedState = observedFixture({ hosts: ['w1a', 'w1b'] });

function plan(): Plan {
  return buildBlueGreenPlan({
    config,
    observed,
    release: releaseFor('v2', 'c'.repeat(40)),
    createdBy: 'ci',
    now: new Date('2026-11-27T00:00:00Z'),
  });
}

let keys: SigningKeys;
let ada: Signer;
let bob: Signer;
beforeAll(() => {
  keys = makeSigningKeys(['ada', 'bob']);
  ada = sshSigner(keys.key.ada!);
  bob = sshSigner(keys.key.bob!);
});

function planFile(p: Plan = plan()): string {
  const file = join(mkdtempSync(join(tmpdir(), 'baton-approve-')), 'plan.json');
  writePlanFile(file, p);
  return file;
}

describe('approve', () => {
  it(
    'records who approved which hash, and when, ' + 'with the signature of `baton approve <hash>` and the key',
    async () => {
      const r = await approvePlan(plan(), 'Ada <ada@example.com>', ada, new Date('2026-11-28T09:00:00Z'));
      expect(r.already).toBe(false);
      expect(r.plan.approvals).toEqual([
        {
          by: 'Ada <ada@example.com>',
          at: '2026-11-28T09:00:00.000Z',
          hash: r.plan.hash,
          signature: expect.stringMatching(/^-----BEGIN SSH SIGNATURE-----\n/),
          key: expect.stringMatching(/^SHA256:/),
        },
      ]);
      expect(r.approvers).toEqual(['Ada <ada@example.com>']);
      const { signature, key } = r.approval;
      const { namespace, message } = approvalMessage(r.plan.hash);
      expect(namespace).toBe('baton-plan');
      expect(message).toBe(`baton approve ${r.plan.hash}\n`);
      expect(await withSignatureFile(signature!, (f) => sshCheck(namespace, message, f))).toEqual({ key });
    },
  );

  it('leaves the hash alone: approvals are outside what was approved', async () => {
    const p = plan();
    const approved = (await approvePlan((await approvePlan(p, 'ada', ada)).plan, 'bob', bob)).plan;
    expect(approved.hash).toBe(p.hash);
    await expect(approvePlan(approved, 'carol', bob)).resolves.toMatchObject({ already: true });
  });

  it('refuses an altered plan (exit 3) and records nothing', async () => {
    const p = plan();
    p.forward[1]!.members = ['web1b'];
    const err = await approvePlan(p, 'ada', ada).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlanRefusedError);
    expect((err as PlanRefusedError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/altered/);
  });

  it('adds nothing when the same key approves again, under another name', async () => {
    const p = plan();
    const twice = await approvePlan((await approvePlan(p, 'ada', ada)).plan, 'Bob', ada);
    expect(twice.already).toBe(true);
    expect(twice.plan.approvals).toHaveLength(1);
    expect(twice.approval.by).toBe('ada');
  });

  it('signs the plan as its author with another message than an approval', async () => {
    const p = await signAsAuthor(plan(), ada, new Date(0));
    expect(p.author).toMatchObject({ by: 'ci', hash: p.hash, key: expect.stringMatching(/^SHA256:/) });
    const { namespace, message } = authorMessage(p.hash);
    expect(message).toBe(`baton plan ${p.hash}\n`);
    expect(await withSignatureFile(p.author!.signature!, (f) => sshCheck(namespace, message, f))).toEqual({
      key: p.author!.key,
    });
    expect(
      await withSignatureFile(p.author!.signature!, (f) => sshCheck(namespace, approvalMessage(p.hash).message, f)),
    ).toHaveProperty('why');
  });

  it('names the reviewer from --as, else git user.name and user.email', () => {
    const git = (values: Record<string, string>) => (key: string) => values[key];
    expect(reviewer('  Ada Lovelace  ', git({}))).toBe('Ada Lovelace');
    expect(reviewer(undefined, git({ 'user.name': 'Ada', 'user.email': 'ada@example.com' }))).toBe(
      'Ada <ada@example.com>',
    );
    expect(reviewer(undefined, git({ 'user.email': 'ada@example.com' }))).toBe('ada@example.com');
    expect(() => reviewer(undefined, git({}))).toThrow(UserError);
  });

  it(
    'signs with --key, else git user.signingkey when it is an SSH key, ' + 'else refuses (exit 64) saying how',
    async () => {
      const git = (values: Record<string, string>) => (key: string) => values[key];
      expect(signingKey(keys.key.ada, git({ 'user.signingkey': '/nowhere' }))).toBe(keys.key.ada);
      expect(signingKey(undefined, git({ 'user.signingkey': `${keys.key.bob}.pub` }))).toBe(`${keys.key.bob}.pub`);
      const literal = signingKey(
        undefined,
        git({ 'user.signingkey': `key::${readFileSync(`${keys.key.bob}.pub`, 'utf8').trim()}` }),
      );
      expect(readFileSync(literal, 'utf8')).toMatch(/^ssh-ed25519 /);
      const none = (() => {
        try {
          return signingKey(undefined, git({}));
        } catch (e) {
          return e as UserError;
        }
      })() as UserError;
      expect(none.exitCode).toBe(64);
      expect(none.hint).toMatch(/--key/);
      expect(() => signingKey(undefined, git({ 'user.signingkey': 'ABCDEF0123456789' }))).toThrow(
        /not an SSH key file/,
      );
      expect(() => signingKey(join(keys.dir, 'missing'), git({}))).toThrow(/no key file/);
    },
  );

  it('signs with a public key whose private half is in ssh-agent', async () => {
    const agent = execFileSync('ssh-agent', ['-s'], { encoding: 'utf8' });
    const env = Object.fromEntries(
      [...agent.matchAll(/(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);/g)].map((m) => [m[1]!, m[2]!]),
    );
    const saved = { SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK, SSH_AGENT_PID: process.env.SSH_AGENT_PID };
    Object.assign(process.env, env);
    try {
      execFileSync('ssh-add', ['-q', keys.key.bob!], { stdio: 'ignore' });
      const r = await approvePlan(plan(), 'Bob', sshSigner(`${keys.key.bob}.pub`));
      expect(r.approval.key).toBe((await approvePlan(plan(), 'Bob', bob)).approval.key);
    } finally {
      execFileSync('ssh-agent', ['-k'], { stdio: 'ignore' });
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('plan file', () => {
  it('round-trips a plan with its author and approvals, byte for byte', async () => {
    const file = planFile((await approvePlan(await signAsAuthor(plan(), bob), 'ada', ada, new Date(0))).plan);
    const text = readFileSync(file, 'utf8');
    writePlanFile(file, readPlanFile(file));
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(JSON.parse(text)).toMatchObject({
      format: 'baton-plan/1',
      author: { by: 'ci' },
      approvals: [{ by: 'ada' }],
    });
    expect(Object.keys(JSON.parse(text)).slice(-3)).toEqual(['hash', 'author', 'approvals']);
  });

  it('refuses a file that is not a baton-plan/1 plan, saying what it found', () => {
    const file = planFile();
    writeFileSync(file, JSON.stringify({ ...plan(), format: 'baton-plan/9' }));
    expect(() => readPlanFile(file)).toThrow(
      /not a baton plan \(format "baton-plan\/9"; this baton reads baton-plan\/1\)/,
    );
    writeFileSync(file, '{"format": "baton-plan/1"');
    expect(() => readPlanFile(file)).toThrow(/cannot read plan/);
    writeFileSync(file, JSON.stringify({ format: 'baton-plan/1' }));
    expect(() => readPlanFile(file)).toThrow(/not a complete baton plan/);
  });

  it(
    'refuses a plan with a step kind this baton cannot carry out, ' + 'forward or undo, instead of passing it as done',
    () => {
      const file = planFile();
      const p = plan();
      const undo = { id: 'undo-x', kind: 'traffic-mirror-stop', title: 'stop mirroring', undo: [] };
      writeFileSync(
        file,
        JSON.stringify({
          ...p,
          forward: [
            ...p.forward.slice(0, 1),
            { id: 'x', kind: 'traffic-mirror', title: 'mirror 10%', undo: [undo] },
            ...p.forward.slice(1),
          ],
        }),
      );
      expect(() => readPlanFile(file)).toThrow(
        /has steps this baton cannot carry out \(traffic-mirror, traffic-mirror-stop\): it was made by a newer baton/,
      );
    },
  );
});

describe("the report's approvals", () => {
  it(
    'name the allowed_signers principal a signature verifies as, never the name written beside it; ' +
      'say why one does not count',
    async () => {
      const signed = (await approvePlan(plan(), 'Definitely The CTO', ada)).plan;
      const withUnsigned = {
        ...signed,
        approvals: [...(signed.approvals ?? []), { by: 'bob', at: '2026-11-28T09:00:00Z', hash: signed.hash }],
      };
      const checks = await approvalChecks(withUnsigned, keys.allowedSigners);
      expect(checks).toEqual([{ principal: 'ada@example.com' }, { problem: 'it is not signed' }]);
      expect(await approvalChecks(withUnsigned, undefined)).toBeUndefined();
    },
  );
});
