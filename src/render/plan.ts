// Human renderings of a plan and of a run's outcome. Markdown is the same text a reviewer reads in a pull request.
import { describePlanCanary } from '../model/canary.js';
import type { ApplyResult } from '../release/push.js';
import { refusals } from '../checks/preflight.js';
import type { ClusterId } from '../config/config.js';
import {
  appIn,
  clustersLeftAlone,
  PLAN_KIND_TRAITS,
  type Plan,
  type PlanKind,
  type PlanPreflight,
  reverseSteps,
} from '../model/plan.js';
import { hookLines } from './plan-hooks.js';
import { renderPreflight } from './preflight.js';

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function planText(plan: Plan): string {
  const lines = [
    `Plan ${plan.hash.slice(0, 19)}… for ${appIn(plan.app, plan.environment)}: ${plan.release.tag}` +
      ` at ${plan.release.commit.slice(0, 12)} (release ${plan.release.dir})`,
    `made by ${plan.createdBy} at ${plan.createdAt} from the live state ${plan.observedDigest.slice(0, 19)}…`,
    ...(plan.artifact
      ? [
          `artifact built once: sha256 ${plan.artifact.sha256} (${plan.artifact.files} ` +
            `files, ${megabytes(plan.artifact.bytes)}, ${plan.artifact.compression}` +
            `${plan.artifact.build ? `; built with \`${plan.artifact.build}\`` : ''}` +
            `${plan.artifact.host ? ` on ${plan.artifact.host}` : ''})`,
        ]
      : []),
    ...(plan.canary ? [describePlanCanary(plan.canary)] : []),
    '',
    'Now:',
    ...plan.observed.hosts.map(
      (h) =>
        `  ${h.host.padEnd(32)} cluster ${h.cluster}  member ${h.member.padEnd(10)}` +
        ` ${h.memberState.padEnd(6)} runs ${h.release ?? '(nothing)'}`,
    ),
    ...(plan.preflight ? preflightLines(plan.preflight) : []),
    ...leftAloneLines(plan),
    ...hookLines(plan),
    '',
    'Forward (A→B), each step with its undo:',
    ...plan.forward.flatMap((s, i) => [
      `  ${String(i + 1).padStart(2)}. ${s.title}`,
      ...s.undo.map((u) => `        undo: ${u.title}`),
    ]),
    '',
    'Reverse (B→A), from the end state:',
    ...reverseSteps(plan.forward).map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.title}`),
  ];
  return lines.join('\n');
}

/** Which clusters the push leaves alone and why, or who forced it past them. */
function leftAloneLines(plan: Plan): string[] {
  if (plan.forced)
    return [
      '',
      `Forced by ${plan.forced.by}: ${plan.forced.reason} (every cluster is pushed, ` +
        `also one that already runs and serves ${plan.release.tag})`,
    ];
  const alone = (plan.kind ?? 'push') === 'push' ? clustersLeftAlone(plan) : [];
  return alone.length
    ? [
        '',
        `Left alone: ${clusterList(alone)} already run${alone.length === 1 ? 's' : ''} ${plan.release.dir} ` +
          `on every host and serve${alone.length === 1 ? 's' : ''} (not drained, not restarted)`,
      ]
    : [];
}

/** What `plan`, `push` and `apply` say of a plan that changes nothing, as Terraform's "No changes". */
export function noChangesText(plan: Plan): string {
  const clusters = clustersLeftAlone(plan);
  const lines = [
    `No changes: every host of ${clusterList(clusters)} runs ${plan.release.tag} ` +
      `(commit ${plan.release.commit.slice(0, 7)}) and serves; nothing to do.`,
  ];
  // Not a refusal now, since nothing runs; but the next push that changes something will meet it.
  const refused = plan.preflight ? refusals(plan.preflight).map((f) => f.message) : [];
  if (refused.length) lines.push(`Preflight would refuse a push that changes something: ${refused.join('; ')}`);
  return lines.join('\n');
}

/** The --json form of "No changes", beside a run's result: `changes` false, nothing ran, nothing changed. */
export function noChangesJson(plan: Plan): Record<string, unknown> {
  return {
    changes: false,
    outcome: 'nothing-to-do',
    kind: plan.kind ?? 'push',
    tag: plan.release.tag,
    commit: plan.release.commit,
    release: plan.release.dir,
    clusters: clustersLeftAlone(plan),
    productionChanged: false,
    message: noChangesText(plan),
  };
}

function clusterList(clusters: ClusterId[]): string {
  return `cluster${clusters.length === 1 ? '' : 's'} ${clusters.join(' and ')}`;
}

function preflightLines(preflight: PlanPreflight): string[] {
  return [
    '',
    'Preflight:',
    ...renderPreflight(preflight).map((l) => `  ${l}`),
    ...(preflight.overridden ? [`  overridden by ${preflight.overridden.by}: ${preflight.overridden.reason}`] : []),
  ];
}

/** What a run that went through did, by its plan's kind. */
const SUCCEEDED: Record<PlanKind, (r: ApplyResult) => string> = {
  push: (r) => `pushed ${r.tag} (${r.release})`,
  rollback: (r) => `rolled back to ${r.tag} (${r.release})`,
  contract: (r) => `contracted the schema for ${r.release}`,
  restore: (r) => `restored the host with ${r.release}`,
};
const SUCCEEDED_MEANS: Partial<Record<PlanKind, string>> = {
  contract: ': releases before it can no longer run on it',
};
/** Where a kind that failed leaves production, when it is not simply "reversed" or "unchanged". */
const LEFT_AFTER_FAILURE: Partial<Record<PlanKind, string>> = {
  restore: 'the host stays out of the pool (a half-restored host is never returned to it); the rest serve as before',
};

export function resultText(r: ApplyResult): string {
  const secs = (ms?: number) => `${((ms ?? 0) / 1000).toFixed(2)}s`;
  const what = `${PLAN_KIND_TRAITS[r.kind].runOf} ${r.tag}`;
  switch (r.outcome) {
    case 'succeeded':
      return `${SUCCEEDED[r.kind](r)} in ${secs(r.forwardMs)}${SUCCEEDED_MEANS[r.kind] ?? ''}; journal ${r.journal}`;
    case 'held':
      return (
        `held after the first flip: one cluster runs ${r.release}, ` +
        `the other still the previous release (${secs(r.forwardMs)}); journal ${r.journal}`
      );
    case 'reversed': {
      if (r.failedStep === undefined)
        return (
          `${what}: the reversal it had begun is finished in ${secs(r.forwardMs)}; ` +
          `production is back where it started; journal ${r.journal}`
        );
      const why = r.interruptedBy
        ? `was stopped by ${r.interruptedBy} at ${r.failedStep}`
        : `failed at ${r.failedStep}: ${r.error?.message}`;
      const left = LEFT_AFTER_FAILURE[r.kind];
      if (left) return `${what} ${why}\n${left}; journal ${r.journal}`;
      const after = r.productionChanged
        ? `reversed in ${secs(r.reversalMs)}: production is back where it started`
        : 'nothing in production had changed';
      return `${what} ${why}\n${after}; journal ${r.journal}`;
    }
    case 'needs-attention':
      return (
        `${what} failed at ${r.failedStep}: ${r.error?.message}` +
        `\nthe reversal failed too: ${r.reversalError?.message}\nproduction needs attention; journal ${r.journal}`
      );
  }
}
