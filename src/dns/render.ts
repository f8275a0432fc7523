// The migration runbook, for a person at a terminal (text) and for review (Markdown): what
// the authoritative servers serve now, the earliest safe time of each step, every step with
// its undo, and the reverse plan that restores the old server.
import { reverseDnsSteps } from '../../plans/dns-migration.js';
import { stepIs } from '../model/step-kinds.js';
import type { PhaseResult, WatchReport } from './service.js';
import type { DnsState } from './state.js';
import type { DnsPlan, DnsStep } from './types.js';

const COMMAND: Record<DnsStep['phase'], string> = {
  'lower-ttl': 'baton dns lower-ttl',
  prepare: 'baton dns plan',
  proxy: 'baton dns proxy install',
  cutover: 'baton dns cutover',
  finish: 'baton dns finish',
};

function facts(plan: DnsPlan): string[] {
  const f = plan.facts;
  const servers = plan.observed.servers.map((s) => {
    // A plan stored by a baton from before AAAA records were read has no addresses6.
    const found6: readonly string[] | undefined = s.site.addresses6;
    const six = found6?.length ? ` AAAA ${found6.join(',')}` : '';
    const chain = s.site.cnames.length ? ` CNAME ${s.site.cnames.join(' → ')} →` : '';
    const site = `${f.site} →${chain} ${s.site.addresses.join(',') || 'none'}${six} TTL ${s.site.ttl}s`;
    const transitional = `${f.transitional} → ${s.transitional.addresses.join(',') || 'none'}`;
    return `${s.server} (serial ${s.serial}, ${site}, ${transitional})`;
  });
  const updates =
    f.update === 'dynamic'
      ? 'dynamic (nsupdate, TSIG, compare-and-set)'
      : 'by hand (baton prints the record and waits for it)';
  return [
    `site ${f.site}: ${f.oldAddress} → ${f.newAddress}` +
      `${f.newAddress6 ? `, AAAA ${f.oldAddress6} → ${f.newAddress6}` : ''}; transitional name ${f.transitional}`,
    ...(f.record
      ? [
          `${f.site} is a CNAME (→ ${(f.cnames ?? []).join(' → ')}): the records of ${f.record} change, and every ` +
            `other name pointing at ${f.record} moves with it`,
        ]
      : []),
    `authoritative servers: ${servers.join('; ')}`,
    `old answer may be cached ${f.siteTtl}s; negative TTL ${f.negativeTtl}s; ` +
      `records written with TTL ${f.ttl}s; ` +
      `updates ${updates}`,
    `proxy ${f.proxy}; connection gate ${f.gate}; sync hook ${f.sync ? 'yes' : 'none'}; ` +
      `quiet period ${f.quietSeconds}s`,
  ];
}

function when(iso?: string): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'any time';
}

export function dnsPlanText(plan: DnsPlan, state?: DnsState): string {
  const done = new Set(state?.done ?? []);
  return [
    `DNS migration plan ${plan.hash.slice(0, 19)}… made by ${plan.createdBy} at ${when(plan.createdAt)}`,
    ...facts(plan).map((l) => `  ${l}`),
    '',
    'Forward, each step with its earliest safe time, the command that runs it, and its undo:',
    ...plan.forward.flatMap((s, i) => [
      `  ${String(i + 1).padStart(2)}. ` +
        `[${done.has(s.id) ? 'done' : stepIs(s, 'confirmsOnly') ? ' ok ' : '    '}] ${s.title}`,
      `        ${COMMAND[s.phase]}; not before ${when(s.earliest)}`,
      ...s.undo.map((u) => `        undo: ${u.title}`),
    ]),
    '',
    `Caches: with the switch right after cut-over, no cache holds ${plan.facts.oldAddress} ` +
      `after ${when(state?.horizon ?? plan.schedule.horizon)}; ` +
      `the proxy may go after ${when(plan.schedule.finish)} if no request came for ${plan.facts.quietSeconds}s.`,
    '',
    'Reverse (restore the old server), from the end state:',
    ...reverseDnsSteps(plan.forward).map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.title}`),
    '  (baton dns rollback runs the reverse of whatever is done)',
  ].join('\n');
}

export function dnsPlanMarkdown(plan: DnsPlan, state?: DnsState): string {
  const done = new Set(state?.done ?? []);
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `# DNS migration of \`${plan.facts.site}\``,
    '',
    `Plan \`${plan.hash}\`, made by ${plan.createdBy} at ${when(plan.createdAt)}.`,
    '',
    ...facts(plan).map((l) => `* ${l}`),
    '',
    '## Forward',
    '',
    '| # | step | command | not before | undo | done |',
    '|---|---|---|---|---|---|',
    ...plan.forward.map(
      (s, i) =>
        `| ${i + 1} | ${cell(s.title)} | \`${COMMAND[s.phase]}\` | ${when(s.earliest)} ` +
        `| ${cell(s.undo.map((u) => u.title).join('; ') || '—')} | ${done.has(s.id) ? 'yes' : ''} |`,
    ),
    '',
    `No cache can hold \`${plan.facts.oldAddress}\` after ` +
      `**${when(state?.horizon ?? plan.schedule.horizon)}** (new record on every authoritative server ` +
      `+ ${plan.facts.siteTtl}s). The proxy goes once that has passed and no request came ` +
      `for ${plan.facts.quietSeconds}s: **${when(plan.schedule.finish)}** at the earliest.`,
    '',
    '## Reverse (restore the old server)',
    '',
    ...reverseDnsSteps(plan.forward).map((s, i) => `${i + 1}. ${s.title}`),
    '',
  ].join('\n');
}

export function phaseText(r: PhaseResult): string {
  const secs = Object.entries(r.stepSeconds)
    .map(([id, s]) => `${id} ${s.toFixed(2)}s`)
    .join(', ');
  switch (r.outcome) {
    case 'succeeded':
      return r.completed.length
        ? `dns ${r.phase}: done (${secs}); journal ${r.journal}`
        : `dns ${r.phase}: nothing left to do; journal ${r.journal}`;
    case 'reversed': {
      const what =
        r.phase === 'rollback'
          ? 'done: the old server serves the site again'
          : `failed at ${r.failedStep}: ${r.error?.message}\nreversed: back where this command started`;
      return `dns ${r.phase} ${what} (${secs}); journal ${r.journal}`;
    }
    default:
      return (
        `dns ${r.phase} failed at ${r.failedStep}: ${r.error?.message}` +
        `\n${r.reversalError ? `the reversal failed too: ${r.reversalError.message}\n` : ''}needs attention; ` +
        `journal ${r.journal}`
      );
  }
}

export function watchText(w: WatchReport): string {
  const v = w.verdict;
  return [
    `${w.site}: cut over at ${when(w.cutoverAt)}` +
      (w.switchedAt ? `, record switched at ${when(w.switchedAt)}` : ', record not switched yet'),
    w.horizon
      ? `no cache can hold the old address after ${when(w.horizon)}${v.horizonPassed ? ' (passed)' : ''}`
      : 'horizon: unknown until the record is switched',
    'requests still reaching the old host, per minute:',
    ...w.perMinute.slice(-15).map((m) => `  ${m.minute.replace('T', ' ')}  ${String(m.requests).padStart(6)}`),
    `total ${w.total}; last ${v.lastRequest ? when(v.lastRequest) : 'none'}; ` +
      `quiet for ${v.quietSeconds}s of ${w.quietPeriodSeconds}s`,
    ...(w.perClient.length
      ? [
          `from ${w.perClient.length} client address${w.perClient.length === 1 ? '' : 'es'} (they or their ` +
            `resolvers still hold the old address)${w.perClient.length > 10 ? ', the 10 with most' : ''}:`,
          ...w.perClient
            .slice(0, 10)
            .map((c) => `  ${c.address.padEnd(39)} ${String(c.requests).padStart(6)}  last ${when(c.last)}`),
        ]
      : []),
    v.finishable
      ? 'ready: `baton dns finish` removes the proxy'
      : `not ready to finish${v.waitSeconds >= 0 ? `: ${v.waitSeconds}s at the earliest` : ''}`,
  ].join('\n');
}
