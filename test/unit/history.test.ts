import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalDir } from '../../src/engine/journal.js';
import { listRuns } from '../../src/release/history.js';
import { historyText } from '../../src/render/status.js';

type Line = Record<string, unknown>;

/** A journal as a run leaves it: timestamps given, so durations and order are exact. */
function journal(dir: string, run: string, lines: Line[]): void {
  writeFileSync(
    join(journalDir(dir), `${run}.jsonl`),
    lines.map((l) => JSON.stringify({ run, ...l })).join('\n') + '\n',
  );
}

function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'baton-history-'));
  writeFileSync(join(dir, 'baton.yml'), '');
  const jd = journalDir(dir);
  mkdirSync(jd, { recursive: true });
  const begin = (ts: string, command: string, tag: string, by: string) => ({
    ts,
    event: 'run-begin',
    command,
    plan: 'sha256:p',
    tag,
    by,
    steps: ['lock', 'drain-a', 'unlock'],
  });
  journal(dir, '20261127T100000Z-aaaaaa', [
    begin('2026-11-27T10:00:00.000Z', 'push', 'v1', 'ci'),
    {
      ts: '2026-11-27T10:00:01.000Z',
      event: 'step-begin',
      step: 'lock',
      kind: 'lock',
      title: 'take the lock',
      phase: 'forward',
    },
    { ts: '2026-11-27T10:00:01.500Z', event: 'step-ok', step: 'lock', phase: 'forward', ms: 500 },
    { ts: '2026-11-27T10:00:07.000Z', event: 'run-end', outcome: 'succeeded', ms: 6800 },
  ]);
  journal(dir, '20261127T110000Z-bbbbbb', [
    begin('2026-11-27T11:00:00.000Z', 'apply', 'v3-broken', 'ada'),
    {
      ts: '2026-11-27T11:00:00.100Z',
      event: 'note',
      message: 'requirements overridden by ada: incident 42 (unmet: no rehearsal)',
    },
    {
      ts: '2026-11-27T11:00:02.000Z',
      event: 'step-fail',
      step: 'smoke-a',
      phase: 'forward',
      ms: 900,
      error: 'smoke failed',
    },
    { ts: '2026-11-27T11:00:05.000Z', event: 'run-end', outcome: 'reversed', ms: 5000 },
  ]);
  journal(dir, '20261127T113000Z-cccccc', [
    begin('2026-11-27T11:30:00.000Z', 'rehearse', 'v2', 'bob'),
    { ts: '2026-11-27T11:30:09.000Z', event: 'run-end', outcome: 'succeeded', ms: 9000 },
  ]);
  writeFileSync(join(jd, '20261127T120000Z-dddddd.plan.json'), '{}'); // a plan kept beside its journal is not a run
  journal(dir, '20261127T120000Z-dddddd', [
    begin('2026-11-27T12:00:00.000Z', 'push', 'v2', 'ci'),
    { ts: '2026-11-27T12:00:01.000Z', event: 'step-ok', step: 'lock', phase: 'forward', ms: 10 },
    {
      ts: '2026-11-27T12:00:02.000Z',
      event: 'step-begin',
      step: 'drain-a',
      kind: 'drain',
      title: 'drain cluster a',
      phase: 'forward',
    },
  ]);
  // a line cut short by a kill
  writeFileSync(join(jd, '20261127T120000Z-dddddd.jsonl'), '{"ts":"2026-11-27T12:00:02.5', { flag: 'a' });
  return dir;
}

describe('history', () => {
  it('lists pushes newest first with tag, who, when, outcome, duration and run id; rehearsals only when asked', () => {
    const dir = fixture();
    const runs = listRuns(dir, { pushesOnly: true });
    expect(runs.map((r) => [r.run, r.command, r.tag, r.by, r.outcome, r.durationMs])).toEqual([
      ['20261127T120000Z-dddddd', 'push', 'v2', 'ci', 'unfinished', 2000],
      ['20261127T110000Z-bbbbbb', 'apply', 'v3-broken', 'ada', 'reversed', 5000],
      ['20261127T100000Z-aaaaaa', 'push', 'v1', 'ci', 'succeeded', 6800],
    ]);
    expect(listRuns(dir).map((r) => r.command)).toContain('rehearse');
  });

  it('keeps to --limit', () => {
    expect(listRuns(fixture(), { limit: 2 }).map((r) => r.tag)).toEqual(['v2', 'v2']);
  });

  it('replays what an interrupted run left: the completed steps and the pending one', () => {
    const [last] = listRuns(fixture());
    expect(last?.completed).toEqual(['lock']);
    expect(last?.pending).toMatchObject({ step: 'drain-a', phase: 'forward' });
  });

  it('keeps the failed step and the notes a run journaled', () => {
    const reversed = listRuns(fixture()).find((r) => r.tag === 'v3-broken');
    expect(reversed?.failedStep).toBe('smoke-a');
    expect(reversed?.notes).toEqual(['requirements overridden by ada: incident 42 (unmet: no rehearsal)']);
  });

  it('renders one line per run, with an override under it', () => {
    const text = historyText(listRuns(fixture(), { pushesOnly: true }));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^started +command +tag +outcome +duration +by +run$/);
    expect(lines[1]).toMatch(/^2026-11-27 12:00:00Z +push +v2 +unfinished +2\.0s +ci +20261127T120000Z-dddddd$/);
    expect(text).toMatch(
      new RegExp(
        /apply +v3-broken +reversed +5\.0s +ada +20261127T110000Z-bbbbbb +failed at /.source +
          /smoke-a\n {4}requirements overridden by ada/.source,
      ),
    );
    expect(historyText([])).toBe('no runs recorded yet');
  });

  it('is empty when nothing has run', () => {
    expect(listRuns(mkdtempSync(join(tmpdir(), 'baton-history-empty-')))).toEqual([]);
  });
});
