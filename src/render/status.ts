// Human renderings of `baton status` and `baton history`: plain lines that read well in a
// terminal and in a CI log alike.
import type { RunRecord } from '../release/history.js';
import type { StatusReport } from '../release/status.js';

export function statusText(s: StatusReport): string {
  const serving = s.clusters.filter((c) => c.serving !== 'no');
  const lines = [
    `${s.app}: ${serving.length ? serving.map((c) => `cluster ${c.id}${c.serving === 'partly' ? ' (partly)' : ''} on ${c.releases.join(' + ')}`).join(' and ') : 'NO cluster'} in the pool of ${s.balancer.driver} ${s.balancer.host} backend ${s.balancer.backend}`,
    '',
    ...s.clusters.flatMap((c) => [
      `cluster ${c.id} (${c.internal}): ${c.serving === 'all' ? 'in the pool' : c.serving === 'partly' ? `partly in the pool (${c.inPool.join(', ')})` : 'out of the pool'}`,
      ...s.hosts
        .filter((h) => h.cluster === c.id)
        .map((h) =>
          [
            `  ${h.host.padEnd(30)}`,
            (h.member ?? '?').padEnd(8),
            (h.state ?? '?').padEnd(6),
            h.healthy === undefined ? '' : h.healthy ? 'healthy' : 'FAILING',
            h.sessions === undefined ? '' : `${String(h.sessions).padStart(3)} sessions`,
            h.error ? `unreachable: ${h.error.split('\n')[0]}` : `runs ${h.release ?? '(nothing)'}`,
          ]
            .filter(Boolean)
            .join('  '),
        ),
    ]),
    '',
    s.lock
      ? `lock: held by ${s.lock.by} since ${s.lock.since}${s.lock.tag ? ` (${s.lock.tag})` : ''}: ${s.lock.reason}; ${s.lock.expired ? `EXPIRED ${s.lock.expires} (the next push takes it over)` : `expires ${s.lock.expires}`}`
      : 'lock: free',
    s.lastRun ? lastRunText(s.lastRun) : 'last run: none recorded',
    ...s.problems.map((p) => `problem: ${p}`),
  ];
  return lines.join('\n');
}

function lastRunText(r: NonNullable<StatusReport['lastRun']>): string {
  const head = `last run: ${r.command} ${r.tag} by ${r.by} at ${r.startedAt}`;
  if (r.outcome !== 'unfinished') return `${head}: ${r.outcome}${r.durationMs !== undefined ? ` in ${secs(r.durationMs)}` : ''}${r.failedStep ? ` (failed at ${r.failedStep})` : ''} (run ${r.run})`;
  if (r.running) return `${head}: running now${r.pending ? `, at ${r.pending.step}` : ''} (run ${r.run})`;
  return [
    `${head}: INTERRUPTED (run ${r.run}) after ${r.completed.length ? r.completed.join(', ') : 'no completed step'}`,
    r.pending ? `  pending step: ${r.pending.step} (${r.pending.phase}) began ${r.pending.since} and never ended: ${r.pending.title}` : '',
    '  decide with `baton resume` (continue) or `baton rollback` (go back)',
  ]
    .filter(Boolean)
    .join('\n');
}

export function historyText(runs: readonly RunRecord[]): string {
  if (!runs.length) return 'no runs recorded yet';
  const row = (cols: string[]) => cols.join('  ').trimEnd();
  return [
    row(['started'.padEnd(20), 'command'.padEnd(8), 'tag'.padEnd(14), 'outcome'.padEnd(15), 'duration', 'by', 'run']),
    ...runs.flatMap((r) => [
      row([
        r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z').padEnd(20),
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
