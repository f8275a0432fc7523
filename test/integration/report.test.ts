// `baton report` on real runs in the lab: a push, a push that reverses itself and a rollback,
// each drawn as a page that headless Chromium opens with its charts, timeline and no script error.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { bodyData, openInChromium } from '../helpers/chromium.js';
import { readyAllHaproxyMembers } from './helpers/lab.js';

const LOCK = `/run/baton/report-test-${process.pid}/lock`;
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'reports', 'lab');
let config: string;

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: 'report-test' } });
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-report-')), 'baton.yml'), [[['lock', 'path'], LOCK]]);
  const v1 = await baton('push', 'v1', '-c', config);
  expect(v1.exitCode, v1.stderr).toBe(0);
  const v2 = await baton('push', 'v2', '-c', config);
  expect(v2.exitCode, v2.stderr).toBe(0);
  const broken = await baton('push', 'v3-broken', '-c', config);
  expect(broken.exitCode, broken.stderr).toBe(1);
  const back = await baton('rollback', '--yes', '-c', config);
  expect(back.exitCode, back.stderr).toBe(0);
});

describe('baton report against the lab', () => {
  it('draws the push, the reversed push and the rollback, each opening in headless Chromium', async () => {
    const history = await baton('history', '-c', config, '--json');
    expect(history.exitCode, history.stderr).toBe(0);
    const runs = (
      JSON.parse(history.stdout) as { run: string; command: string; tag: string; outcome: string; journal: string }[]
    ).slice(0, 3);
    expect(runs.map((r) => [r.command, r.outcome])).toEqual([
      ['rollback', 'succeeded'],
      ['push', 'reversed'],
      ['push', 'succeeded'],
    ]);
    for (const r of runs) {
      const out = join(mkdtempSync(join(tmpdir(), 'baton-report-page-')), `${r.run}.html`);
      const made = await baton('report', r.run, '-o', out, '-c', config);
      expect(made.exitCode, made.stderr).toBe(0);
      expect(made.stdout.trim()).toBe(out);
      expect(readFileSync(out, 'utf8')).not.toMatch(/(src|href)\s*=\s*["']?\s*https?:/i);
      const dom = openInChromium(out, join(ARTIFACTS, `${r.command}-${r.outcome}.png`));
      const page = bodyData(dom);
      expect(page.rendered).toBe('yes');
      expect(page.errors).toBe('0');
      expect(Number(page.charts)).toBeGreaterThanOrEqual(1);
      const table = /<table id="steps">[\s\S]*<\/table>/.exec(dom)?.[0] ?? '';
      for (const e of readJournal(r.journal))
        if (e.event === 'step-begin') expect(table).toContain(`<code>${e.step}</code>`);
      if (r.outcome === 'reversed')
        expect(dom).toMatch(/id="reversal">Reversed at [\d.]+ s after step <code>[\w-]+<\/code> failed/);
    }
  });

  it('writes the newest run by default beside baton.yml and refuses an unknown run with exit 64', async () => {
    const made = await baton('report', '-c', config);
    expect(made.exitCode, made.stderr).toBe(0);
    expect(made.stdout.trim()).toMatch(/\/\.baton\/reports\/[\w.-]+\.html$/);
    const unknown = await baton('report', 'no-such-run', '-c', config);
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr).toMatch(/no run "no-such-run"; runs here, newest first: \d{8}T/);
  });
});
