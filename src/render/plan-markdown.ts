// The plan as a reviewer reads it in a pull request: what it was made from, what changes, each
// forward step with its undo, the whole way back, the bare-metal restore runbook, and whether it
// has been rehearsed and approved. Everything comes from the plan file, which holds no secrets.
import { describePlanCanary } from '../model/canary.js';
import {
  appIn,
  changesNothing,
  clustersLeftAlone,
  type ObservedHost,
  planKindOf,
  type Plan,
  type PlanKind,
  type PlanPreflight,
  type Step,
  reverseSteps,
} from '../model/plan.js';
import { STEP_TRAITS, stepIs } from '../model/step-kinds.js';
import { tagOfDir } from '../model/release.js';
import { expectedState } from '../release/rehearse.js';
import type { RequirementStatus } from '../release/requirements.js';
import { noChangesText } from './plan.js';
import { hooksSection } from './plan-hooks.js';

export interface MarkdownOptions {
  /** What baton.yml's `require` demands of this plan and what its signed records meet (`requirementStatus`). */
  status?: RequirementStatus;
  /**
   * Per host, its restore runbook from the snapshot the plan records (`snapshotRunbooks`): replaces the generic one.
   */
  runbooks?: Record<string, string>;
}

export function planMarkdown(plan: Plan, opts: MarkdownOptions = {}): string {
  return (
    [
      header(plan),
      liveState(plan),
      ...(plan.preflight ? [preflightSection(plan.preflight)] : []),
      whatChanges(plan),
      ...[hooksSection(plan, cell)].filter((s) => s !== undefined),
      forward(plan),
      reversePlan(plan),
      opts.runbooks && Object.keys(opts.runbooks).length ? snapshotRestore(plan, opts.runbooks) : restoreRunbook(plan),
      review(plan, opts),
    ].join('\n\n') + '\n'
  );
}

/** The heading of a plan under review, by what it does. */
const TITLE: Record<PlanKind, (tag: string, app: string) => string> = {
  push: (tag, app) => `# Push ${tag} of ${app}`,
  rollback: (tag, app) => `# Roll ${app} back to ${tag}`,
  restore: (tag, app) => `# Restore a host of ${app} with ${tag}`,
  contract: (tag, app) => `# Contract the schema of ${app} for ${tag}`,
};

function header(plan: Plan): string {
  const { release, observed } = plan;
  return [
    TITLE[planKindOf(plan)](release.tag, appIn(plan.app, plan.environment)),
    '',
    '| | |',
    '|---|---|',
    `| Tag | \`${release.tag}\` |`,
    `| Commit | \`${release.commit}\` |`,
    `| Release directory | \`${release.dir}\` |`,
    ...(plan.artifact
      ? [
          `| Artifact | built once: sha256 \`${plan.artifact.sha256}\`, ${plan.artifact.files}` +
            ` files, ${plan.artifact.bytes} bytes (${plan.artifact.compression}` +
            `)${plan.artifact.build ? `, built with ${cell(`\`${plan.artifact.build}\``)}` : ''}` +
            `${plan.artifact.host ? ` on ${cell(plan.artifact.host)}` : ''}; ` +
            'each host checks it before unpacking |',
        ]
      : []),
    ...(plan.canary ? [`| Canary | ${cell(describePlanCanary(plan.canary).replace(/^canary: /, ''))} |`] : []),
    `| Plan hash | \`${plan.hash}\` |`,
    `| Made by | ${cell(plan.createdBy)} at ${plan.createdAt} |`,
    `| Live state | observed ${observed.observedAt} on ${observed.balancer.driver} ` +
      `\`${observed.balancer.host}\` backend \`${observed.balancer.backend}\`; ` +
      `digest \`${plan.observedDigest}\` |`,
    '',
    '`baton apply` refuses this plan if the file is edited (the hash) ' +
      'or if production no longer matches the live state below (the digest).',
  ].join('\n');
}

function liveState(plan: Plan): string {
  return [
    '## Live state (the way back)',
    '',
    '| Host | Cluster | Member | State | Release now |',
    '|---|---|---|---|---|',
    ...plan.observed.hosts.map(
      (h) =>
        `| \`${h.host}\` | ${h.cluster} | \`${h.member}\` | ${h.memberState} ` +
        `| ${h.release ? `\`${h.release}\`` : '(none)'} |`,
    ),
  ].join('\n');
}

const OUTCOME_WORD: Record<PlanPreflight['findings'][number]['outcome'], string> = {
  refused: '**refused**',
  unchecked: 'unchecked',
  ok: 'ok',
};

/** What preflight found when the plan was made; an override is said first, with who gave it and why. */
function preflightSection(preflight: PlanPreflight): string {
  const refused = preflight.findings.filter((f) => f.outcome === 'refused').length;
  const verdict = preflight.overridden
    ? `**Preflight refused (${refused} finding${refused === 1 ? '' : 's'}) ` +
      `and was overridden** by ${cell(preflight.overridden.by)}: ${cell(preflight.overridden.reason)}`
    : refused === 0
      ? 'Nothing was refused.'
      : `${refused} finding${refused === 1 ? '' : 's'} refused.`;
  return [
    '## Preflight (when the plan was made)',
    '',
    verdict,
    '',
    '| Check | Outcome | Finding |',
    '|---|---|---|',
    ...preflight.findings.map((f) => `| ${f.check} | ${OUTCOME_WORD[f.outcome]} | ${cell(f.message)} |`),
  ].join('\n');
}

function whatChanges(plan: Plan): string {
  const end = expectedState(plan.observed, plan.forward);
  const rows = plan.observed.hosts.flatMap((h) => {
    const changes: string[] = [];
    const after = end.release[h.host] ?? null;
    if (after !== h.release) changes.push(`release ${h.release ? `\`${h.release}\`` : '(none)'} → \`${after}\``);
    const state = end.memberState[h.member] ?? h.memberState;
    if (state !== h.memberState) changes.push(`member \`${h.member}\` ${h.memberState} → ${state}`);
    return changes.length ? [`| \`${h.host}\` | ${changes.join('; ')} |`] : [];
  });
  const order = [
    ...new Set(plan.forward.filter((s) => stepIs(s, 'switchesRelease') && s.cluster).map((s) => s.cluster)),
  ];
  const pushing = changesNothing(plan)
    ? `**No changes**: ${noChangesText(plan).replace(/^No changes: /, '')}`
    : `Release \`${plan.release.dir}\` (tag \`${plan.release.tag}\`) ` +
      'is staged without a restart on every host that does not run it yet, ' +
      `then ${order.length ? `cluster ${order.join(', then cluster ')}` : 'each cluster'} in turn is drained ` +
      'from the public pool, switched, ' +
      `smoke-checked through its internal hostname and returned to the pool.${leftAlone(plan)}`;
  return [
    '## What changes',
    '',
    pushing,
    ...schemaChanges(plan),
    '',
    ...(rows.length
      ? ['| Host | Change |', '|---|---|', ...rows]
      : ['Nothing changes: every host already runs this release and every member stays as it is.']),
  ].join('\n');
}

/** A cluster the push leaves alone, or who forced it not to. */
function leftAlone(plan: Plan): string {
  if (plan.forced)
    return (
      ` **Forced** by ${cell(plan.forced.by)}: ${cell(plan.forced.reason)} (every cluster is pushed, ` +
      'also one that already runs and serves this release).'
    );
  const alone = (plan.kind ?? 'push') === 'push' ? clustersLeftAlone(plan) : [];
  return alone.length
    ? ` Cluster ${alone.join(' and ')} already runs it on every host and serves: left alone (not drained, ` +
        'not restarted).'
    : '';
}

/** What a plan does to the database both clusters share: said before the host table, since no host shows it. */
function schemaChanges(plan: Plan): string[] {
  const expand = plan.forward.find((s) => STEP_TRAITS[s.kind].schemaChange === 'expand');
  const contract = plan.forward.find((s) => STEP_TRAITS[s.kind].schemaChange === 'contract');
  if (contract)
    return [
      '',
      `**The schema is contracted** on \`${contract.hosts?.[0] ?? '?'}\` for \`${plan.release.dir}\`, ` +
        'which every host runs: releases before it can no longer run on it, and baton cannot undo it.',
    ];
  if (!expand) return [];
  const undone = expand.undo.length
    ? 'a reversed push undoes it with `migrate.reverse`'
    : '**baton cannot undo it** (no `migrate.reverse`): a reversed push leaves the schema expanded';
  return [
    '',
    `**The schema is expanded** on \`${expand.hosts?.[0] ?? '?'}\` with this release's migrations after ` +
      'staging and before the first drain, and the release still serving is checked on it through both ' +
      `clusters (the gate); ${undone}. Dropping what the old release needed is a separate plan (\`baton ` +
      `contract\`).`,
  ];
}

function forward(plan: Plan): string {
  return [
    '## Forward (A → B)',
    '',
    'In this order; each step is journaled before the next begins. If a step fails, ' +
      'the undo of every step that ran is carried out, newest first.',
    '',
    ...plan.forward.flatMap((s, i) => [
      `${i + 1}. **${s.id}**: ${s.title}${where(s)}`,
      `    - undo: ${s.undo.length ? s.undo.map((u) => u.title).join('; then ') : 'nothing to undo'}`,
    ]),
  ].join('\n');
}

function reversePlan(plan: Plan): string {
  const steps = reverseSteps(plan.forward);
  return [
    '## Reverse (B → A)',
    '',
    "From the end state back to the live state above: every forward step's undo, " +
      'newest first. A push that stops part-way runs only the undos of the steps that ran.',
    '',
    ...steps.map((s, i) => `${i + 1}. **${s.id}**: ${s.title}${where(s)}`),
  ].join('\n');
}

function snapshotRestore(plan: Plan, runbooks: Record<string, string>): string {
  const commit = plan.observed.snapshot?.commit;
  return [
    '## Restore runbook (bare metal)',
    '',
    'To rebuild a host from nothing as it was when this plan was made, ' +
      `from snapshot \`${commit?.slice(0, 12) ?? '?'}\` of the hosts' tracked configuration. ` +
      `If this push completed, the release to deploy is \`${plan.release.dir}\`. \`baton restore HOST ` +
      `--run\` carries out the automatable part of an app host's runbook.`,
    ...Object.values(runbooks).map((r) => `\n${r}`),
  ].join('\n');
}

function restoreRunbook(plan: Plan): string {
  return [
    '## Restore runbook (bare metal)',
    '',
    'To rebuild a host from nothing as it was when this plan was made. Generated from the plan; ' +
      "the restore from tracked configuration will add each host's configuration files. " +
      `If this push completed, redeploy \`${plan.release.dir}\` instead of the release named below.`,
    ...plan.observed.hosts.map((h: ObservedHost) => {
      const rel = h.release;
      return [
        '',
        `### \`${h.host}\` (cluster ${h.cluster}, member \`${h.member}\` at ${h.address})`,
        '',
        `1. Keep member \`${h.member}\` out of the pool (drain it on \`${plan.observed.balancer.host}\`) until step 6.`,
        `2. Reinstall the operating system on \`${h.host}\` and give it its address ${h.address} and SSH ` +
          'access for baton.',
        `3. Install ${plan.app}'s prerequisites (the runtime its build and restart commands need).`,
        rel
          ? `4. Redeploy \`${rel}\` from tag \`${tagOfDir(rel)}\`: ` +
            `unpack the tag's tree into \`releases/${rel}\` under the app path, build it, ` +
            `point \`current\` at it and restart.`
          : `4. It ran no release when planned: deploy the release its cluster runs now.`,
        `5. Smoke-check it directly at ${h.address}, then through cluster ${h.cluster}'s internal hostname.`,
        h.memberState === 'ready'
          ? `6. Return \`${h.member}\` to the pool and check the balancer sees it up.`
          : `6. Leave \`${h.member}\` ${h.memberState}: it was not in the pool when this plan was made.`,
      ].join('\n');
    }),
  ].join('\n');
}

function review(plan: Plan, opts: MarkdownOptions): string {
  const { status } = opts;
  const rehearsals = plan.rehearsals ?? [];
  const approvals = plan.approvals ?? [];
  const counts = (hash: string) =>
    hash === plan.hash ? '' : ` — of another plan (\`${hash.slice(0, 19)}…\`), does not count`;
  return [
    '## Rehearsal',
    '',
    status
      ? `baton.yml ${status.rehearsal.required ? 'requires' : 'does not require'} a passed rehearsal of this plan.\n`
      : '',
    rehearsals.length
      ? rehearsals
          .map(
            (r) =>
              `- **${r.outcome}** ${r.at} by ${cell(r.by)} against ${r.against}: ` +
              `forward ${secs(r.forwardMs)}, ` +
              `reverse ${secs(r.reverseMs)}${r.detail ? `; ${r.detail}` : ''}${counts(r.hash)}`,
          )
          .join('\n')
      : '- not rehearsed (`baton rehearse FILE --key KEY`)',
    '',
    '## Approvals',
    '',
    status ? approvalsLine(status) : '',
    approvals.length
      ? approvals
          .map((a) => `- ${cell(a.by)} at ${a.at}${a.key ? ` (signed with ${a.key})` : ' (unsigned)'}${counts(a.hash)}`)
          .join('\n')
      : '- none yet (`baton approve FILE --key KEY`)',
    ...(status?.refused.length
      ? [
          '',
          '**Records that do not verify** (apply refuses the plan while it carries them):',
          '',
          ...status.refused.map((r) => `- ${cell(r)}`),
        ]
      : []),
    ...(status?.unmet.length
      ? ['', '**Missing** (apply refuses the plan until it has them):', '', ...status.unmet.map((u) => `- ${cell(u)}`)]
      : []),
  ]
    .filter((l, i, all) => !(l === '' && all[i - 1] === ''))
    .join('\n');
}

/** Hosts a step runs on (titles name clusters and members, not hosts). */
function where(s: Step): string {
  return s.hosts?.length ? ` (hosts: ${s.hosts.map((h) => `\`${h}\``).join(', ')})` : '';
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Table cells and list items: no pipes or line breaks from free text. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

/** How many approvals baton.yml requires, which count (by their signatures) and whether apply will run. */
function approvalsLine(status: RequirementStatus): string {
  const { required, by } = status.approvals;
  const who = by.length ? ` (${by.map(cell).join(', ')}, by their signatures)` : '';
  const runs = status.unmet.length || status.refused.length ? '' : ', so apply will run it';
  return `baton.yml requires ${required}; ${by.length} counted${who}${runs}.\n`;
}
