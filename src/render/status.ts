// Human renderings of `baton status` and `baton history`: plain lines that read well in a
// terminal and in a CI log alike.
import { appIn } from '../model/plan.js';
import type { RunRecord } from '../release/history.js';
import type { Liveness } from '../release/liveness.js';
import type { LockStatus, StatusReport } from '../release/status.js';

export function statusText(s: StatusReport): string {
  const balancersUnread = s.unread.some((u) => u.part === 'peer' || u.part === 'balancer');
  const agree = s.divergent?.length || balancersUnread ? '' : ' (agree)';
  const lines = [
    headline(s),
    ...(s.balancer.peers ? [`balancers: ${[s.balancer.host, ...s.balancer.peers].join(', ')}${agree}`] : []),
    ...(s.divergent?.length ? [`balancers disagree: ${s.divergent.join('; ')} (a push stops until they agree)`] : []),
    ...s.unread.filter((u) => u.part === 'peer').map((u) => `${u.what}: unreadable (${firstLine(u.reason)})`),
    ...s.unread
      .filter((u) => u.part === 'membership')
      .map((u) => `which member is which host: unknown (${firstLine(u.reason)})`),
    '',
    ...s.clusters.flatMap((c) => [
      `cluster ${c.id} (${c.internal}): ${clusterPool(c)}`,
      ...s.hosts
        .filter((h) => h.cluster === c.id)
        .map((h) =>
          [
            `  ${h.host.padEnd(30)}`,
            (h.member ?? '?').padEnd(8),
            (h.state ?? '?').padEnd(6),
            h.healthy === undefined ? '' : h.healthy ? 'healthy' : 'FAILING',
            h.sessions === undefined ? '' : `${String(h.sessions).padStart(3)} sessions`,
            h.balancers && new Set(Object.values(h.balancers).map((st) => (st === 'down' ? 'ready' : st))).size > 1
              ? `(${Object.entries(h.balancers)
                  .map(([host, state]) => `${state} on ${host}`)
                  .join(', ')})`
              : '',
            h.release === undefined
              ? `release unknown (${firstLine(h.error ?? 'not read')})`
              : `runs ${h.release ?? '(nothing)'}`,
          ]
            .filter(Boolean)
            .join('  '),
        ),
    ]),
    '',
    lockText(s),
    s.lastRun
      ? lastRunText(s.lastRun, s.lock)
      : s.unread.some((u) => u.part === 'journal')
        ? `last run: unknown (could not read the journal: ${firstLine(unreadReason(s, 'journal'))})`
        : 'last run: none recorded',
    ...(s.unread.length
      ? [
          '',
          `incomplete: could not read ${s.unread.map((u) => u.what).join(', ')}; ` +
            'shown as unknown above (nothing was changed)',
        ]
      : []),
  ];
  return lines.join('\n');
}

function headline(s: StatusReport): string {
  const app = appIn(s.app, s.environment);
  const where = `${s.balancer.driver} ${s.balancer.host} backend ${s.balancer.backend}`;
  if (s.unread.some((u) => u.part === 'balancer'))
    return `${app}: balancer ${s.balancer.host}: unreadable (${firstLine(unreadReason(s, 'balancer'))}) — pool unknown`;
  const serving = s.clusters.filter((c) => c.serving === 'all' || c.serving === 'partly');
  const unknown = s.clusters.filter((c) => c.serving === 'unknown');
  const named = serving
    .map((c) => `cluster ${c.id}${c.serving === 'partly' ? ' (partly)' : ''} on ${c.releases.join(' + ')}`)
    .join(' and ');
  if (unknown.length)
    return (
      `${app}: ${named ? `${named} in the pool, ` : ''}${unknown.map((c) => `cluster ${c.id}`).join(' and ')}` +
      ` unknown, in the pool of ${where}`
    );
  return `${app}: ${named || 'NO cluster'} in the pool of ${where}`;
}

function clusterPool(c: StatusReport['clusters'][number]): string {
  if (c.serving === 'all') return 'in the pool';
  if (c.serving === 'partly') return `partly in the pool (${(c.inPool ?? []).join(', ')})`;
  if (c.serving === 'no') return 'out of the pool';
  return c.inPool?.length ? `pool unknown (at least ${c.inPool.join(', ')} in it)` : 'pool unknown';
}

function lockText(s: StatusReport): string {
  const l = s.lock;
  if (l.state === 'unknown')
    return `lock: unknown (could not read ${s.balancer.host}: ${firstLine(unreadReason(s, 'lock'))})`;
  if (l.state === 'free') return 'lock: free';
  const head = `lock: held by ${l.by} since ${l.since}${l.tag ? ` (${l.tag})` : ''}: ${l.reason}`;
  const lease = l.expired ? `EXPIRED ${l.expires} (the next push takes it over)` : `expires ${l.expires}`;
  return [head, livenessText(l.liveness), lease].filter(Boolean).join('; ');
}

/** Only a heartbeat says anything about the holder's process; without one the lease is all there is. */
function livenessText(l: Liveness): string {
  if (l.state === 'running') return `running now (heartbeat ${ago(l.heartbeatAgoMs)} ago)`;
  if (l.state === 'gone')
    return `no heartbeat for ${ago(l.heartbeatAgoMs)}: the run is gone — \`baton resume\` or \`baton rollback\``;
  return '';
}

function lastRunText(r: NonNullable<StatusReport['lastRun']>, lock: LockStatus): string {
  const head = `last run: ${r.command} ${r.tag} by ${r.by} at ${r.startedAt}`;
  if (r.outcome !== 'unfinished') {
    const took = r.durationMs !== undefined ? ` in ${secs(r.durationMs)}` : '';
    const failedAt = r.failedStep ? ` (failed at ${r.failedStep})` : '';
    return `${head}: ${r.outcome}${took}${failedAt} (run ${r.run})`;
  }
  const at = r.pending ? `, at ${r.pending.step}` : '';
  if (r.running && lock.state === 'held' && lock.liveness.state === 'running')
    return `${head}: running now (heartbeat ${ago(lock.liveness.heartbeatAgoMs)} ago)${at} (run ${r.run})`;
  if (r.running && lock.state === 'held')
    return (
      `${head}: running, as far as its lock tells (no heartbeat recorded; ` +
      `lease until ${lock.expires})${at} (run ${r.run})`
    );
  const pending = r.pending
    ? `  pending step: ${r.pending.step} (${r.pending.phase}) ` +
      `began ${r.pending.since} and never ended: ${r.pending.title}`
    : '';
  if (r.running === null)
    return [
      `${head}: did not end, and whether it is still running is unknown: the lock could not be read (run ${r.run})`,
      pending,
      '  read the status again before `baton resume` or `baton rollback`',
    ]
      .filter(Boolean)
      .join('\n');
  const gone =
    lock.state === 'held' && lock.run === r.run && lock.liveness.state === 'gone'
      ? ` (no heartbeat for ${ago(lock.liveness.heartbeatAgoMs)}: the run is gone)`
      : '';
  return [
    `${head}: INTERRUPTED (run ${r.run})${gone} ` +
      `after ${r.completed.length ? r.completed.join(', ') : 'no completed step'}`,
    pending,
    '  decide with `baton resume` (continue) or `baton rollback` (go back)',
  ]
    .filter(Boolean)
    .join('\n');
}

function unreadReason(s: StatusReport, part: StatusReport['unread'][number]['part']): string {
  return s.unread.find((u) => u.part === part)?.reason ?? 'not read';
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

/** 2 s, 40 s, 3 min, 2 h: how long, as a person would say it. */
function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

export function historyText(runs: readonly RunRecord[], environment?: string): string {
  const where = environment === undefined ? [] : [`environment ${environment}`];
  if (!runs.length) return [...where, 'no runs recorded yet'].join(': ');
  const row = (cols: string[]) => cols.join('  ').trimEnd();
  return [
    ...where,
    row(['started'.padEnd(20), 'command'.padEnd(8), 'tag'.padEnd(14), 'outcome'.padEnd(15), 'duration', 'by', 'run']),
    ...runs.flatMap((r) => [
      row([
        r.startedAt
          .replace('T', ' ')
          .replace(/\.\d+Z$/, 'Z')
          .padEnd(20),
        r.command.padEnd(8),
        (r.tag || '-').padEnd(14),
        r.outcome.padEnd(15),
        (r.durationMs === undefined ? '' : secs(r.durationMs)).padStart(8),
        r.by,
        r.run,
        r.failedStep ? `failed at ${r.failedStep}` : '',
      ]),
      ...r.notes.filter((n) => n.startsWith('requirements overridden')).map((n) => `    ${n}`),
    ]),
  ].join('\n');
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
