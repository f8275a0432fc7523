import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import type { ObservedState, Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { planFileText } from '../../src/release/approve.js';
import { requirementStatus } from '../../src/release/requirements.js';
import { approvalMessage, rehearsalMessage, sshSigner } from '../../src/release/review-signatures.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { makeSigningKeys } from '../fixtures/signing-keys.js';

const SECRET_ENV = 'hunter2-from-the-environment';
const SECRET_FILE = 'token-from-a-secret-file-9f8e7d';
const TSIG_KEY = 'key "baton-update" { algorithm hmac-sha256; secret "c2VjcmV0LWtleS1tYXRlcmlhbA=="; };';
const keys = makeSigningKeys(['ada', 'bob']);

/** A config with `secrets:` references and a TSIG key file, the secrets themselves present where they are read from. */
function configWithSecrets(): Config {
  const dir = mkdtempSync(join(tmpdir(), 'baton-md-'));
  writeFileSync(join(dir, 'deploy.token'), `${SECRET_FILE}\n`);
  writeFileSync(join(dir, 'dns-update.key'), TSIG_KEY);
  process.env.SHOP_DB_PASSWORD = SECRET_ENV;
  const { config, issues } = parseConfig(
    `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'systemctl restart shop', keep: 3 }
balancer: { driver: haproxy, host: lb.example.com, backend: web }
clusters:
  a: { internal: prod-a.example.com, hosts: [{ host: web-1.prod-a.example.com, member: web1a }, \
{ host: web-2.prod-a.example.com, member: web2a }] }
  b: { internal: prod-b.example.com, hosts: [{ host: web-1.prod-b.example.com, member: web1b }, \
{ host: web-2.prod-b.example.com, member: web2b }] }
require: { rehearsal: true, approvals: 2, authorApprovalCounts: true, allowedSigners: ${keys.allowedSigners} }
dns: { zone: example.com, nameserver: ns1.example.com, transitional: transitional.example.com, \
update: { tsigKeyFile: ./dns-update.key } }
secrets:
  dbPassword: { env: SHOP_DB_PASSWORD }
  deployToken: { file: deploy.token }
`,
    join(dir, 'baton.yml'),
  );
  expect(issues).toEqual([]);
  return config as Config;
}

const observed: ObservedState = {
  observedAt: '2026-11-27T10:00:00.000Z',
  balancer: { driver: 'haproxy', host: 'lb.example.com', backend: 'web' },
  hosts: [
    {
      host: 'web-1.prod-a.example.com',
      cluster: 'a',
      member: 'web1a',
      address: '10.0.0.11',
      memberState: 'ready',
      release: 'v1-aaaaaaa',
    },
    {
      host: 'web-2.prod-a.example.com',
      cluster: 'a',
      member: 'web2a',
      address: '10.0.0.12',
      memberState: 'ready',
      release: 'v1-aaaaaaa',
    },
    {
      host: 'web-1.prod-b.example.com',
      cluster: 'b',
      member: 'web1b',
      address: '10.0.0.41',
      memberState: 'ready',
      release: 'v1-aaaaaaa',
    },
    {
      host: 'web-2.prod-b.example.com',
      cluster: 'b',
      member: 'web2b',
      address: '10.0.0.42',
      memberState: 'maint',
      release: 'v0-bbbbbbb',
    },
  ],
};

function plan(config = configWithSecrets()): Plan {
  return buildBlueGreenPlan({
    config,
    observed,
    release: releaseFor('v2', 'c'.repeat(40)),
    createdBy: 'ada@laptop',
    now: new Date('2026-11-27T10:00:01Z'),
  });
}

function section(md: string, heading: string): string {
  const start = md.indexOf(`## ${heading}`);
  expect(start, `section ${heading}`).toBeGreaterThan(-1);
  const next = md.indexOf('\n## ', start + 1);
  return md.slice(start, next < 0 ? undefined : next);
}

describe('plan as markdown', () => {
  const config = configWithSecrets();
  const p = plan(config);
  let md: string;
  beforeAll(async () => {
    md = planMarkdown(p, { status: await requirementStatus(p, config.require) });
  });

  it('heads a rollback and a restore as what they do, not as a push', async () => {
    for (const [kind, heading] of [
      ['rollback', /^# Roll shop back to v2\n/],
      ['restore', /^# Restore a host of shop with v2\n/],
    ] as const) {
      const other = { ...p, kind };
      expect(planMarkdown(other, { status: await requirementStatus(other, config.require) })).toMatch(heading);
    }
  });

  it('heads the review with the tag, commit, hash, who and when, and the live-state digest', () => {
    expect(md).toMatch(/^# Push v2 of shop\n/);
    for (const fact of [
      p.release.commit,
      p.release.dir,
      p.hash,
      'ada@laptop',
      p.createdAt,
      p.observedDigest,
      observed.observedAt,
    ])
      expect(md).toContain(fact);
  });

  it('shows the live state host by host: cluster, member, state and the release it runs now', () => {
    const live = section(md, 'Live state');
    expect(live).toContain('| `web-2.prod-b.example.com` | b | `web2b` | maint | `v0-bbbbbbb` |');
    expect(live.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(4);
  });

  it("says what changes: each host's release, and members whose state ends different", () => {
    const changes = section(md, 'What changes');
    expect(changes).toContain(`| \`web-1.prod-a.example.com\` | release \`v1-aaaaaaa\` → \`${p.release.dir}\` |`);
    // web2b was in maintenance: the push deploys to it but leaves it out of the pool.
    expect(changes).toMatch(/web-2\.prod-b.*release `v0-bbbbbbb` → /);
    expect(changes).not.toMatch(/web2b` maint → ready/);
    expect(changes).toContain('cluster a, then cluster b');
  });

  it('lists the forward steps in order, each with what its undo does', () => {
    const fwd = section(md, 'Forward');
    const ids = [...fwd.matchAll(/^\d+\. \*\*([a-z-]+)\*\*/gm)].map((m) => m[1]);
    expect(ids).toEqual(p.forward.map((s) => s.id));
    expect(fwd).toMatch(
      /\*\*activate-b\*\*.*\n {4}- undo: switch cluster b .* back to each host's .*v1-aaaaaaa, v0-bbbbbbb/,
    );
    expect(fwd).toMatch(/\*\*smoke-a\*\*.*\n {4}- undo: nothing to undo/);
  });

  it('gives the whole reverse plan, newest first', () => {
    const ids = [...section(md, 'Reverse').matchAll(/^\d+\. \*\*([a-z-]+)\*\*/gm)].map((m) => m[1]);
    expect(ids.slice(0, 3)).toEqual(['undo-ready-b', 'undo-ready-wait-b', 'undo-activate-b']);
    expect(ids.at(-1)).toBe('undo-lock');
  });

  it(
    'writes a restore runbook per host from the plan: reinstall, prerequisites, ' +
      'redeploy its release from the tag, smoke, pool',
    () => {
      const runbook = section(md, 'Restore runbook');
      expect(runbook.match(/^### /gm)).toHaveLength(4);
      const b2 = runbook.slice(runbook.indexOf('### `web-2.prod-b'));
      expect(b2).toMatch(/Reinstall the operating system/);
      expect(b2).toMatch(/prerequisites/);
      expect(b2).toContain('Redeploy `v0-bbbbbbb` from tag `v0`');
      expect(b2).toMatch(/Smoke-check it directly at 10\.0\.0\.42/);
      expect(b2).toContain('Leave `web2b` maint');
      expect(runbook).toContain('Return `web1a` to the pool');
    },
  );

  it('uses the runbooks made from the snapshot the plan records, in place of the generic one', () => {
    const withSnapshot: Plan = { ...p, observed: { ...p.observed, snapshot: { commit: 'f'.repeat(40), hosts: {} } } };
    const runbook = section(
      planMarkdown(withSnapshot, {
        runbooks: {
          'web-1.prod-a.example.com':
            '### Restore `web-1.prod-a.example.com` from snapshot `ffffffffffff`\n\n4. Configuration: 3 files',
        },
      }),
      'Restore runbook',
    );
    expect(runbook).toContain("from snapshot `ffffffffffff` of the hosts' tracked configuration");
    expect(runbook).toContain('4. Configuration: 3 files');
    expect(runbook).not.toMatch(/Reinstall the operating system/);
  });

  it(
    'shows rehearsal and approval status against what baton.yml requires, counting verified signers; ' +
      'records of another hash do not count',
    async () => {
      const signed = async (who: string, msg: ReturnType<typeof approvalMessage>) => sshSigner(keys.key[who]!)(msg);
      const rehearsal = {
        at: '2026-11-27T10:30:00Z',
        by: 'ada',
        hash: p.hash,
        outcome: 'passed' as const,
        against: 'cluster a of production, out of the pool',
        forwardMs: 4200,
        reverseMs: 3100,
      };
      const reviewedPlan: Plan = {
        ...p,
        approvals: [
          {
            by: 'Ada <ada@example.com>',
            at: '2026-11-27T11:00:00Z',
            hash: p.hash,
            ...(await signed('ada', approvalMessage(p.hash))),
          },
          { by: 'Bob <bob@example.com>', at: '2026-11-27T11:05:00Z', hash: 'sha256:0123456789abcdef0123' },
        ],
        rehearsals: [{ ...rehearsal, ...(await signed('ada', rehearsalMessage(rehearsal))) }],
      };
      const reviewed = planMarkdown(reviewedPlan, { status: await requirementStatus(reviewedPlan, config.require) });
      expect(section(md, 'Rehearsal')).toMatch(/requires a passed rehearsal[\s\S]*not rehearsed/);
      expect(section(reviewed, 'Rehearsal')).toMatch(/\*\*passed\*\* .* forward 4\.2 s, reverse 3\.1 s/);
      const approvals = section(reviewed, 'Approvals');
      expect(approvals).toContain('baton.yml requires 2; 1 counted (ada@example.com, by their signatures).\n');
      expect(approvals).toMatch(/Ada <ada@example.com> at \S+ \(signed with SHA256:/);
      expect(approvals).toMatch(/Bob .* \(unsigned\) — of another plan .* does not count/);

      const forged: Plan = {
        ...reviewedPlan,
        approvals: [{ by: 'Mallory', at: '2026-11-27T11:10:00Z', hash: p.hash }],
      };
      const refused = section(
        planMarkdown(forged, { status: await requirementStatus(forged, config.require) }),
        'Approvals',
      );
      expect(refused).toMatch(
        /Records that do not verify[\s\S]*- approval 1 \(by Mallory at 2026-11-27T11:10:00Z\): it is not signed/,
      );
      expect(refused).toMatch(
        new RegExp(
          /\*\*Missing\*\* \(apply refuses the plan until it has them\):\n\n- baton.yml requires 2 approvals /.source +
            /of this plan, it has 0/.source,
        ),
      );
    },
  );

  it('never shows a secret: not an env secret, not a secret file, not the TSIG key file', () => {
    const p2 = plan();
    for (const out of [md, planMarkdown(p2), planFileText(p2), planText(p2)]) {
      expect(out).not.toContain(SECRET_ENV);
      expect(out).not.toContain(SECRET_FILE);
      expect(out).not.toContain('c2VjcmV0LWtleS1tYXRlcmlhbA==');
      expect(out).not.toContain('hmac-sha256');
      expect(out).not.toContain('dns-update.key');
    }
  });
});

// Not a secret, but the same rule: the plan file is the same bytes for the same plan.
describe('plan file text', () => {
  it('is stable across a read and a write', () => {
    const p = plan();
    const text = planFileText(p);
    expect(planFileText(JSON.parse(text) as Plan)).toBe(text);
    expect(Object.keys(JSON.parse(text) as object)[0]).toBe('format');
  });
});
