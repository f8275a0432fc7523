// One self-contained HTML page per run: Chart.js inlined, the data as a JSON block, nothing
// fetched (it opens from a CI artifact or a mail attachment with no network). Every string from
// the journal or the plan is escaped: hosts, titles and notes are not ours to trust.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Window } from '../model/canary.js';
import type { QueryFigures, ReportData } from '../report/report-data.js';

/**
 * Chart.js's browser build, read from the installed package (its exports map hides dist/chart.umd.js, so go by the main
 * file's folder).
 */
export function chartJsSource(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.js'), 'utf8')
    .replace(/<\/(script)/gi, '<\\/$1')
    .replace(/<!--/g, '<\\!--');
}

/** Text for HTML element content or a quoted attribute. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON safe inside a <script> block: no `</script>`, `<!--` or line separators can end or bend it. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const seconds = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`);

/**
 * One approval: the principal its signature verifies as (the written name is not trusted), else why it does not count.
 */
function approvalHtml(a: ReportData['approvals'][number]): string {
  const wrote = `${escapeHtml(a.at)}, written as “${escapeHtml(a.by)}”`;
  if (a.verified) return `<li>verified as <strong>${escapeHtml(a.verified)}</strong> — ${wrote}</li>`;
  if (a.unverified) return `<li><strong>not verified</strong>: ${escapeHtml(a.unverified)} — ${wrote}</li>`;
  const how = a.signed
    ? 'signed, <strong>not verified</strong> (no require.allowedSigners to check it against)'
    : '<strong>not signed</strong>';
  return `<li>${how} — ${wrote}</li>`;
}

const percent = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.001 ? 3 : 2)} %`;

/** Where each cluster's pool membership changed, from the samples. */
function poolHtml(d: ReportData): string {
  const changes = d.pool.filter((p, i) => i === 0 || p.a !== d.pool[i - 1]!.a || p.b !== d.pool[i - 1]!.b);
  if (!changes.length) return '';
  const head = '<tr><th>at</th><th>cluster a in the pool</th><th>cluster b in the pool</th></tr>';
  const rows = changes.map((p) => `<tr><td>${seconds(p.t)}</td><td>${p.a}</td><td>${p.b}</td></tr>`);
  return `<h2>Pool membership</h2><table id="pool"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/** A canary side's figures: requests, 5xx and, where counted and timed, failed attempts and the mean response time. */
function windowHtml(w: Window | undefined): string {
  if (!w) return '—';
  const ratio = w.requests ? ` (${percent(w.http5xx / w.requests)})` : '';
  const latency = w.latency
    ? `; mean ${w.latency.ms.toFixed(1)} ms of ${w.latency.timed.toLocaleString('en')} timed` +
      (w.latency.errMs ? ` (± ${w.latency.errMs.toFixed(1)} ms)` : '')
    : '';
  const attempts = w.requests + (w.failed ?? 0);
  const failed =
    w.failed !== undefined
      ? `; ${w.failed.toLocaleString('en')} failed attempts` + (attempts ? ` (${percent(w.failed / attempts)})` : '')
      : '';
  const counts = `${w.requests.toLocaleString('en')} requests, ${w.http5xx.toLocaleString('en')} 5xx`;
  return `${counts}${ratio}${failed}${latency}`;
}

/** A canary step's Prometheus queries: each one's value against its bounds, or why it had none. */
function queriesHtml(queries: readonly QueryFigures[] | undefined): string {
  if (!queries?.length) return '—';
  return queries
    .map((q) => {
      const bounds = [
        ...(q.max !== undefined ? [`max ${q.max}`] : []),
        ...(q.min !== undefined ? [`min ${q.min}`] : []),
      ];
      const shown = q.shown !== undefined ? escapeHtml(q.shown) : '';
      const value =
        q.shown !== undefined
          ? `${q.verdict === 'fail' ? `<strong>${shown}</strong>` : shown} (${bounds.join(', ')})`
          : `no data${q.message ? `: ${escapeHtml(q.message)}` : ''}`;
      return `<code>${escapeHtml(q.query)}</code> = ${value}`;
    })
    .join('<br>');
}

/** Each canary step: its share and weights, and its verdict with the canary's and the stable cluster's figures. */
function canaryHtml(d: ReportData): string {
  if (!d.canary?.length) return '';
  const asked = d.canary.some((c) => c.queries?.length);
  const head =
    '<tr><th>step</th><th>share</th><th>weights</th><th>verdict</th><th>canary</th><th>stable</th>' +
    `${asked ? '<th>Prometheus</th>' : ''}</tr>`;
  const rows = d.canary.map((c) => {
    const weights = c.weights
      ? Object.entries(c.weights)
          .map(([m, w]) => `${escapeHtml(m)} ${w}`)
          .join(', ')
      : '—';
    const verdict =
      c.verdict === 'fail'
        ? `<strong>failed on ${escapeHtml(c.metric ?? '?')}</strong>${c.error ? `: ${escapeHtml(c.error)}` : ''}`
        : c.verdict === 'too-few'
          ? 'not judged: too few requests reached the canary'
          : 'pass';
    const scope = c.scope === 'backend' ? ' (backend-wide: the driver counts no 5xx per member)' : '';
    const note = c.note ? `<br><span class="empty">${escapeHtml(c.note)}</span>` : '';
    return (
      `<tr class="${c.verdict === 'fail' ? 'fail' : 'ok'}"><td><code>${escapeHtml(c.step)}</code></td>` +
      `<td>${c.weight} %</td><td>${weights}</td><td>${verdict}${scope}${note}</td>` +
      `<td>${windowHtml(c.canary)}</td><td>${windowHtml(c.stable)}</td>` +
      `${asked ? `<td>${queriesHtml(c.queries)}</td>` : ''}</tr>`
    );
  });
  return `<h2>Canary</h2><table id="canary"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function preflightHtml(d: ReportData): string {
  if (!d.preflight) return '';
  const overridden = d.preflight.overridden
    ? '<p class="override"><strong>Preflight refused and was overridden</strong> ' +
      `by ${escapeHtml(d.preflight.overridden.by)}: ${escapeHtml(d.preflight.overridden.reason)}</p>`
    : '';
  const items = d.preflight.findings.map(
    (f) => `<li><strong>${escapeHtml(f.outcome)}</strong> ${escapeHtml(f.check)}: ${escapeHtml(f.message)}</li>`,
  );
  const findings = items.length ? `<ul>${items.join('')}</ul>` : '<p>every check passed</p>';
  return `<h2>Preflight (when the plan was made)</h2>${overridden}${findings}`;
}

function summaryHtml(d: ReportData): string {
  const approvals = d.planProblem
    ? '<p>unknown: the plan cannot be read</p>'
    : d.approvals.length
      ? `<ul>${d.approvals.map(approvalHtml).join('')}</ul>`
      : '<p>none recorded</p>';
  const reversal = d.reversal
    ? `<p class="reversal" id="reversal">Reversed at ${seconds(d.reversal.t)}` +
      `${d.reversal.failedStep ? ` after step <code>${escapeHtml(d.reversal.failedStep)}</code> failed` : ''}` +
      `: ${escapeHtml(d.reversal.reason)}</p>`
    : '';
  const problem = d.planProblem
    ? `<p class="problem" id="plan-problem"><strong>plan unreadable</strong>: ${escapeHtml(d.planProblem)}</p>`
    : '';
  const from = d.change?.from.length ? d.change.from.map((r) => `<code>${escapeHtml(r)}</code>`).join(', ') : 'nothing';
  const change = d.change
    ? `<dt>from</dt><dd>${from}</dd>` +
      `<dt>to</dt><dd><code>${escapeHtml(d.change.to)}</code> (tag ${escapeHtml(d.change.tag)}, ` +
      `commit <code>${escapeHtml(d.change.commit)}</code>)</dd>`
    : '';
  const totals = d.totals
    ? `<dt>requests</dt><dd id="totals">${d.totals.requests.toLocaleString('en')} served while it ` +
      `ran; ${d.totals.http5xx.toLocaleString('en')} answered 5xx (${percent(d.totals.ratio)})</dd>`
    : '<dt>requests</dt><dd>not counted (the balancer gave no counters)</dd>';
  const notes = d.notes.length
    ? `<h2>Notes</h2><ul>${d.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`
    : '';
  const outcome = `<span class="outcome ${escapeHtml(d.outcome)}">${escapeHtml(d.outcome)}</span>`;
  const environment =
    d.environment === undefined
      ? ''
      : `<dt>environment</dt><dd id="environment"><code>${escapeHtml(d.environment)}</code></dd>`;
  return `<h1>baton ${escapeHtml(d.command)} ${escapeHtml(d.tag)} — ${outcome}</h1>
${problem}
<dl>
<dt>run</dt><dd><code>${escapeHtml(d.run)}</code></dd>
${environment}
<dt>by</dt><dd>${escapeHtml(d.by)}</dd>
<dt>started</dt><dd>${escapeHtml(d.startedAt)}</dd>
<dt>duration</dt><dd>${seconds(d.durationMs)}</dd>
${change}
${totals}
<dt>plan</dt><dd><code>${escapeHtml(d.planHash ?? 'unknown')}</code></dd>
</dl>
${reversal}
<h2>Approvals</h2>${approvals}${preflightHtml(d)}${poolHtml(d)}${canaryHtml(d)}${notes}`;
}

function stepsTableHtml(d: ReportData): string {
  const rows = d.bars.map((b) => {
    const took = b.end === undefined ? '—' : seconds(b.end - b.start);
    const status = `${b.status}${b.error ? `: ${escapeHtml(b.error)}` : ''}`;
    return (
      `<tr class="${b.phase} ${b.status}"><td><code>${escapeHtml(b.step)}</code></td>` +
      `<td>${escapeHtml(b.title)}</td><td>${escapeHtml(b.row)}</td><td>${b.phase}</td>` +
      `<td>${seconds(b.start)}</td><td>${took}</td><td>${status}</td></tr>`
    );
  });
  const head =
    '<tr><th>step</th><th>title</th><th>row</th><th>phase</th><th>began</th><th>took</th><th>status</th></tr>';
  return `<table id="steps"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

// Runs in the page: draws the three charts from the JSON block, marks the reversal on each, and
// records that it finished (data-rendered) and how many script errors it saw (data-errors).
const PAGE_SCRIPT = `
(function () {
  var body = document.body;
  var d = JSON.parse(document.getElementById('report-data').textContent);
  var end = Math.max(d.durationMs || 0, 1);
  var colours = { forward: '#2f6fdd', reverse: '#d9822b', fail: '#c62828', pending: '#9e9e9e' };
  var marker = {
    id: 'reversalMarker',
    afterDatasetsDraw: function (chart) {
      if (!d.reversal) return;
      var x = chart.scales.x.getPixelForValue(d.reversal.t / 1000), area = chart.chartArea, ctx = chart.ctx;
      ctx.save(); ctx.strokeStyle = colours.fail; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, area.top); ctx.lineTo(x, area.bottom); ctx.stroke();
      // On a white box (it crosses the bars), and to the left of the line when it would run off the chart.
      var label = 'reversal' + (d.reversal.failedStep ? ' (' + d.reversal.failedStep + ' failed)' : '');
      ctx.font = '12px sans-serif'; ctx.setLineDash([]);
      var w = ctx.measureText(label).width, left = x + 6 + w > area.right, lx = left ? x - 6 - w : x + 6;
      ctx.fillStyle = 'rgba(255,255,255,0.9)'; ctx.fillRect(lx - 2, area.top + 1, w + 4, 15);
      ctx.fillStyle = colours.fail; ctx.fillText(label, lx, area.top + 12);
      ctx.restore();
    }
  };
  var stepLabels = {
    id: 'stepLabels',
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx; ctx.save(); \
ctx.fillStyle = '#fff'; ctx.font = '11px sans-serif'; ctx.textBaseline = 'middle';
      chart.data.datasets.forEach(function (ds, i) {
        chart.getDatasetMeta(i).data.forEach(function (el, j) {
          var label = ds.data[j].step, w = Math.abs(el.x - el.base);
          if (ctx.measureText(label).width + 6 < w) ctx.fillText(label, Math.min(el.x, el.base) + 3, el.y);
        });
      });
      ctx.restore();
    }
  };
  var xAxis = { type: 'linear', min: 0, max: end / 1000, \
title: { display: true, text: 'seconds since the run began' } };
  function group(name, pick) {
    return {
      label: name, grouped: false, borderSkipped: false, barPercentage: 0.8, categoryPercentage: 1,
      backgroundColor: colours[name], borderColor: colours.fail,
      borderWidth: name === 'fail' ? 2 : 0,
      data: d.bars.filter(pick).map(function (b) { \
return { y: b.row, x: [b.start / 1000, (b.end === undefined ? end : b.end) / 1000], step: b.step, title: b.title }; })
    };
  }
  var charts = [];
  charts.push(new Chart(document.getElementById('timeline'), {
    type: 'bar',
    data: { labels: d.rows, datasets: [
      group('forward', function (b) { return b.phase === 'forward' && b.status === 'ok'; }),
      group('reverse', function (b) { return b.phase === 'reverse' && b.status === 'ok'; }),
      group('fail', function (b) { return b.status === 'fail'; }),
      group('pending', function (b) { return b.status === 'pending'; })
    ].filter(function (ds) { return ds.data.length > 0; }) },
    options: {
      indexAxis: 'y', animation: false, maintainAspectRatio: false,
      scales: { x: xAxis, y: { type: 'category', labels: d.rows } },
      plugins: { tooltip: { callbacks: { label: function (c) { \
var r = c.raw; return r.step + ': ' + r.title + ' (' + (r.x[1] - r.x[0]).toFixed(1) + ' s)'; } } } }
    },
    plugins: [marker, stepLabels]
  }));
  function line(id, sets) {
    var el = document.getElementById(id);
    if (!sets.some(function (s) { return s.data.length > 0; })) { \
el.parentNode.replaceWith(Object.assign(document.createElement('p'), \
{ textContent: 'no traffic samples in this journal', className: 'empty' })); return; }
    charts.push(new Chart(el, {
      type: 'line',
      data: { datasets: sets.map(function (s) { \
return { label: s.label, data: s.data, yAxisID: s.axis || 'y', \
borderColor: s.colour, backgroundColor: s.colour, pointRadius: 0, tension: 0 }; }) },
      options: { animation: false, maintainAspectRatio: false, \
scales: Object.assign({ x: xAxis, y: { beginAtZero: true } }, sets.some(function (s) { return s.axis; }) \
? { y1: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, \
title: { display: true, text: '5xx/s' } } } \
: {}) },
      plugins: [marker]
    }));
  }
  function xy(points, key) { return points.map(function (p) { return { x: p.t / 1000, y: p[key] }; }); }
  line('rates', [{ label: 'requests/s', data: xy(d.rates, 'rps'), colour: colours.forward }, \
{ label: '5xx/s (right axis)', data: xy(d.rates, 'http5xxPerSecond'), colour: colours.fail, axis: 'y1' }]);
  line('sessions', [{ label: 'cluster a', data: xy(d.sessions, 'a'), colour: colours.forward }, \
{ label: 'cluster b', data: xy(d.sessions, 'b'), colour: colours.reverse }]);
  body.dataset.charts = String(charts.length);
  body.dataset.rendered = 'yes';
})();
`;

// One rule a line; the page gets them as three lines, as it always has.
const STYLE = [
  'body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}',
  'h1{font-size:20px}',
  'dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}',
  'dt{color:#666}',
  'dd{margin:0}\n',
  '.outcome.succeeded{color:#2e7d32}',
  '.outcome.reversed,.outcome.needs-attention,.outcome.unfinished{color:#c62828}',
  '.reversal{border-left:4px solid #c62828;padding-left:8px}\n',
  '.chart{position:relative;width:100%}',
  'table{border-collapse:collapse;margin-top:8px}',
  'td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left}',
  'tr.fail td{color:#c62828}',
  'tr.reverse td:nth-child(4){color:#d9822b}',
  '.empty{color:#666}',
].join('');

/** The whole page for one run. */
export function reportHtml(d: ReportData, chartJs = chartJsSource()): string {
  const timelineHeight = Math.max(160, 48 + 34 * d.rows.length);
  const environment = d.environment === undefined ? '' : ` (${escapeHtml(d.environment)})`;
  const title = `baton ${escapeHtml(d.command)} ${escapeHtml(d.tag)}${environment} — ${escapeHtml(d.run)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta http-equiv="Content-Security-Policy" \
content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<style>${STYLE}</style></head>
<body>
${summaryHtml(d)}
<h2>Timeline</h2>
<div class="chart" style="height:${timelineHeight}px"><canvas id="timeline"></canvas></div>
<h2>Requests and 5xx per second</h2>
<div class="chart" style="height:240px"><canvas id="rates"></canvas></div>
<h2>In-flight sessions per cluster</h2>
<div class="chart" style="height:240px"><canvas id="sessions"></canvas></div>
<h2>Steps</h2>
${stepsTableHtml(d)}
<script>document.body.dataset.errors = '0'; window.addEventListener('error', function () {\
 document.body.dataset.errors = String(Number(document.body.dataset.errors) + 1); });</script>
<script type="application/json" id="report-data">${scriptJson(d)}</script>
<script>${chartJs}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
