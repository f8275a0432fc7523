// The plan carries the artifact's hash (issue 33): the plan hash covers it, so an approval covers
// those exact bytes; the stage step names it; re-derivation refuses a plan whose artifact baton.yml
// would not build, or builds another way now, and a stage step that names other bytes.
import { describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { buildRestorePlan } from '../../plans/restore.js';
import { PlanRefusedError, UserError } from '../../src/errors.js';
import type { PlanArtifact } from '../../src/model/artifact.js';
import { planProblemList } from '../../src/model/plan-file.js';
import { planHash, type Plan } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { checkPlan } from '../../src/release/rederive.js';
import { planMarkdown } from '../../src/render/plan-markdown.js';
import { planText } from '../../src/render/plan.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';

const ARTIFACT = {
  build: 'npm ci && npm run build',
  compression: 'gzip',
  timeout: 60_000,
  cache: '/tmp/cache',
  keep: 20,
};
const config = planConfigFixture({ artifact: ARTIFACT });
const perHost = planConfigFixture();
const observed = observedFixture();
const release = releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc');
const artifact: PlanArtifact = {
  sha256: 'a'.repeat(64),
  bytes: 1234,
  files: 56,
  compression: 'gzip',
  build: 'npm ci && npm run build',
};
const now = new Date('2026-11-27T00:00:00Z');
const made = (over: { artifact?: PlanArtifact } = { artifact }) =>
  buildBlueGreenPlan({ config, observed, release, createdBy: 'ada', now, ...over });

/** An edit with the hash recomputed, as a forger would. */
function forged(edit: (p: Plan) => void, from = made()): Plan {
  const p = structuredClone(from);
  edit(p);
  const { hash: _, ...rest } = p;
  return { ...p, hash: planHash(rest) };
}

function refusal(p: Plan, c = config): PlanRefusedError {
  try {
    checkPlan(p, c);
  } catch (err) {
    expect(err).toBeInstanceOf(PlanRefusedError);
    return err as PlanRefusedError;
  }
  throw new Error('the plan was accepted');
}

describe('a plan of a release built once', () => {
  it('records the artifact, and its stage step names the hash each host checks', () => {
    const plan = made();
    expect(plan.artifact).toEqual(artifact);
    const stage = plan.forward.find((s) => s.kind === 'stage');
    expect(stage?.artifact).toBe(artifact.sha256);
    expect(stage?.title).toMatch(
      new RegExp(
        /stage the artifact of v2-ccccccc built once \(sha256 aaaaaaaaaaaa, 56 files\) on 4 hosts: sent /.source +
          /only where a host lacks it, its hash checked on each before unpacking/.source,
      ),
    );
  });

  it('shows the reviewer the full hash, in the text and in the Markdown', () => {
    expect(planText(made())).toContain(
      `artifact built once: sha256 ${'a'.repeat(64)} (56 files, 0.0 MB, gzip; built with \`npm ci && npm run build\`)`,
    );
    expect(planMarkdown(made())).toContain(
      `| Artifact | built once: sha256 \`${'a'.repeat(64)}\`, 56 files, 1234 bytes (gzip), ` +
        `built with \`npm ci && npm run build\`; each host checks it before unpacking |`,
    );
  });

  it('has a hash that covers the artifact: other bytes, another plan hash', () => {
    const plan = made();
    const other = made({ artifact: { ...artifact, sha256: 'b'.repeat(64) } });
    expect(other.hash).not.toBe(plan.hash);
    const { hash: _, ...rest } = plan;
    expect(planHash({ ...rest, artifact: { ...artifact, sha256: 'c'.repeat(64) } })).not.toBe(plan.hash);
  });

  it('leaves a plan made without artifact: exactly as before (no artifact key, the same hash)', () => {
    const plan = buildBlueGreenPlan({ config: perHost, observed, release, createdBy: 'ada', now, artifact });
    expect(plan.artifact).toBeUndefined();
    expect(plan.forward.find((s) => s.kind === 'stage')?.artifact).toBeUndefined();
    expect(plan.hash).toBe(buildBlueGreenPlan({ config: perHost, observed, release, createdBy: 'ada', now }).hash);
  });

  it('records no artifact where nothing is staged, and needs one where something is', () => {
    const running = observedFixture({ release: release.dir, differ: { w1a: { memberState: 'drain' } } });
    const plan = buildBlueGreenPlan({ config, observed: running, release, createdBy: 'ada', now });
    expect(plan.forward.some((s) => s.kind === 'stage')).toBe(false);
    expect(plan.artifact).toBeUndefined();
    expect(() => made({})).toThrow(UserError);
  });

  it('restores a host from the same artifact', () => {
    const plan = buildRestorePlan({
      config,
      observed,
      host: 'w1a',
      snapshot: 'd'.repeat(40),
      release,
      createdBy: 'ada',
      now,
      artifact,
    });
    expect(plan.artifact).toEqual(artifact);
    expect(plan.forward.find((s) => s.kind === 'stage')?.artifact).toBe(artifact.sha256);
    expect(() => checkPlan(plan, config)).not.toThrow();
  });
});

describe('apply re-derives a plan with an artifact', () => {
  it('accepts the plan baton.yml makes with the artifact it records', () => {
    expect(() => checkPlan(made(), config)).not.toThrow();
  });

  it('refuses a plan with an artifact where baton.yml builds on each host', () => {
    expect(refusal(made(), perHost).message).toMatch(
      /the plan deploys an artifact built once, and baton.yml has no artifact: section/,
    );
  });

  it('refuses a plan without one where baton.yml builds once', () => {
    const plain = buildBlueGreenPlan({ config: perHost, observed, release, createdBy: 'ada', now });
    expect(refusal(plain).message).toMatch(
      /baton\.yml builds each release once \(artifact:\), and no artifact of v2-ccccccc was given/,
    );
  });

  it('refuses a plan whose artifact was built another way than baton.yml builds it now, naming the key', () => {
    const changed = planConfigFixture({ artifact: { ...ARTIFACT, build: 'make', compression: 'zstd' } });
    const err = refusal(made(), changed);
    expect(err.details).toEqual([
      'artifact.build: plan "npm ci && npm run build", baton.yml "make"',
      'artifact.compression: plan gzip, baton.yml zstd',
    ]);
  });

  it('refuses a stage step that names other bytes than the plan records', () => {
    const err = refusal(
      forged((p) => {
        for (const s of p.forward) if (s.kind === 'stage') s.artifact = 'e'.repeat(64);
      }),
    );
    expect(err.message).toMatch(/step stage: artifact is "e{12}/);
  });

  it('refuses, where the plan is read, an artifact name that is not a SHA-256', () => {
    const p = forged((q) => {
      for (const s of q.forward) if (s.kind === 'stage') s.artifact = '../../etc/passwd';
    });
    expect(planProblemList(p)).toContainEqual(
      expect.objectContaining({
        kind: 'not-a-release',
        message: expect.stringMatching(/artifact "\.\.\/\.\.\/etc\/passwd" is not the SHA-256/),
      }),
    );
    const q = forged((x) => {
      (x.artifact as unknown as Record<string, unknown>).sha256 = 'nope';
    });
    expect(planProblemList(q).map((x) => x.message)).toContain(
      'an artifact record that is not {sha256, bytes, files, compression}',
    );
  });
});
