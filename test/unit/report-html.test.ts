import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportHtml, scriptJson } from '../../src/render/report-html.js';
import { reportData } from '../../src/report/report-data.js';
import { bodyData, openInChromium } from '../helpers/chromium.js';
import { pushFixture, reversedFixture, rollbackFixture, type ReportFixture } from '../helpers/report-fixtures.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'reports');

function writeReport(f: ReportFixture): { file: string; html: string } {
  const dir = mkdtempSync(join(tmpdir(), 'baton-report-html-'));
  const file = join(dir, `${f.run}.html`);
  const html = reportHtml(reportData(f.run, f.records, f.plan));
  writeFileSync(file, html);
  return { file, html };
}

describe('report page', () => {
  it('is self-contained: no external src or href, the chart library inline', () => {
    const { html } = writeReport(pushFixture());
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*https?:/i);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).toContain('Chart.js v4');
  });

  it('escapes what comes from the journal and the plan', () => {
    const { html } = writeReport(pushFixture());
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('eve &lt;script&gt;alert(1)&lt;/script&gt;');
    const json = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    expect(json).not.toMatch(/<\/script|<!--/i);
    expect(JSON.parse(json).bars.some((b: { title: string }) => b.title === 'smoke </script><!-- <b>bold</b>')).toBe(
      true,
    );
    expect(scriptJson('\u2028</script>')).toBe('"\\u2028\\u003c/script\\u003e"');
  });

  // One browser start per fixture for the screenshot and one for the DOM: about 1–2 s each.
  for (const fixture of [pushFixture(), reversedFixture(), rollbackFixture()]) {
    it(`renders the ${fixture.name} run in headless Chromium with its charts, timeline and no script errors`, () => {
      const { file } = writeReport(fixture);
      mkdirSync(ARTIFACTS, { recursive: true });
      const dom = openInChromium(file, join(ARTIFACTS, `${fixture.name}.png`));
      expect(bodyData(dom)).toEqual({ rendered: 'yes', errors: '0', charts: fixture.name === 'reversed' ? '1' : '3' });
      // Chart.js sizes each canvas it draws on (style width/height set from the container).
      expect(dom).toMatch(/<canvas id="timeline"[^>]*style="[^"]*height: \d+px/);
      const table = /<table id="steps">[\s\S]*<\/table>/.exec(dom)?.[0] ?? '';
      const started = fixture.records.flatMap((r) => (r.event === 'step-begin' ? [r.step] : []));
      for (const step of started) expect(table).toContain(`<code>${step}</code>`);
      if (fixture.name === 'reversed') {
        expect(dom).toContain('no traffic samples in this journal');
        expect(dom).toMatch(/id="reversal">Reversed at 5\.0 s after step <code>smoke-b<\/code> failed/);
      }
      expect(
        readFileSync(join(ARTIFACTS, `${fixture.name}.png`))
          .subarray(1, 4)
          .toString(),
      ).toBe('PNG');
    }, 30_000);
  }
});
