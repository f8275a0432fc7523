// Text for `baton snapshot` and `baton drift`.
import type { DriftResult } from '../config-track/drift.js';
import { hasDrift } from '../config-track/drift.js';
import { PACKAGES } from '../config-track/host-files.js';
import type { SnapshotResult } from '../config-track/snapshot.js';

const shortCommit = (c: string) => c.slice(0, 12);
const show = (p: string) => (p === PACKAGES ? 'package list' : p);

export function snapshotText(r: SnapshotResult): string {
  const lines: string[] = [];
  for (const h of r.hosts) {
    const n = h.changes.added.length + h.changes.changed.length + h.changes.removed.length;
    const tracked = h.entries.filter((e) => e.kind !== 'missing').length;
    lines.push(
      `${h.host}: ${n === 0 ? 'unchanged' : `${n} change${n === 1 ? '' : 's'}`}` +
        ` (${tracked} paths tracked, ${h.bytesRead} bytes read)`,
    );
    for (const p of h.changes.added) lines.push(`  + ${show(p)}`);
    for (const p of h.changes.changed) lines.push(`  ~ ${show(p)}`);
    for (const p of h.changes.removed) lines.push(`  - ${show(p)}`);
    for (const n of h.notRead) lines.push(`  ! ${show(n.path)}: ${n.why}`);
  }
  for (const f of r.failed) lines.push(`${f.host}: not reached: ${f.error.split('\n')[0]}`);
  lines.push(
    r.commit && r.commit !== r.previous
      ? `committed ${shortCommit(r.commit)} to ${r.repo}`
      : `nothing changed since ${r.previous ? shortCommit(r.previous) : 'the last snapshot'}: no commit`,
  );
  return lines.join('\n');
}

export function driftText(r: DriftResult): string {
  const lines: string[] = [];
  for (const h of r.hosts) {
    if (h.noSnapshot) {
      lines.push(`${h.host}: no snapshot of this host yet (take one: baton snapshot ${h.host})`);
      continue;
    }
    if (!hasDrift(h)) {
      lines.push(`${h.host}: as in the snapshot`);
      continue;
    }
    lines.push(`${h.host}: ${h.paths.length} path${h.paths.length === 1 ? ' differs' : 's differ'} from the snapshot`);
    for (const p of h.paths) {
      lines.push(`  ${show(p.path)}: ${p.what.join(', ')}`);
      if (p.patch)
        lines.push(
          ...p.patch
            .trimEnd()
            .split('\n')
            .map((l) => `    ${l}`),
        );
    }
  }
  for (const f of r.failed) lines.push(`${f.host}: not reached: ${f.error.split('\n')[0]}`);
  const drifted = r.hosts.filter(hasDrift).length;
  lines.push(
    drifted === 0 && r.failed.length === 0
      ? `no drift: every host is as in snapshot ${shortCommit(r.commit)}`
      : `${drifted} of ${r.hosts.length + r.failed.length} hosts differ from ` +
          `snapshot ${shortCommit(r.commit)}${r.failed.length ? `; ${r.failed.length} not reached` : ''}`,
  );
  return lines.join('\n');
}
