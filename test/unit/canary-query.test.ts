// A canary's Prometheus query (canary.analysis.query): baton.yml's checks with their line, the
// placeholders substituted into the steps (the plan's record keeps them as written), an answer
// read (matrix, vector, scalar, empty, NaN, ±Inf, error) and judged against max and min, and a
// canary step run asking a real HTTP server on loopback that stands in for Prometheus.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBlueGreenPlan } from '../../plans/blue-green.js';
import { canaryInputOf } from '../../plans/canary.js';
import { askPrometheus } from '../../src/checks/prometheus.js';
import { placeholderProblem } from '../../src/config/canary-query.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import { describePlanCanary, isPlanCanary, type CanaryInput } from '../../src/model/canary.js';
import {
  judgeQuery,
  placeholderValues,
  planQueries,
  rangeOf,
  readAnswer,
  substituteQuery,
  type PlanQuery,
} from '../../src/model/canary-query.js';
import { JsonLinesReporter, RunEvent } from '../../src/engine/events.js';
import type { Plan, StepOf } from '../../src/model/plan.js';
import { releaseFor } from '../../src/model/release.js';
import { stepProblems } from '../../src/model/step-kinds.js';
import { reportHtml } from '../../src/render/report-html.js';
import { reportData } from '../../src/report/report-data.js';
import { runCanary } from '../../src/steps/canary.js';
import type { StepEnv } from '../../src/steps/env.js';
import { observedFixture, planConfigFixture } from '../fixtures/observed.js';
import { fakeBalancer } from '../helpers/memory-balancer.js';

const BASE = `app: { name: shop, repo: /srv/repo, path: /srv/shop, restart: systemctl restart shop }
balancer: { driver: haproxy, host: lb1.example.com, backend: web }
clusters:
  a: { internal: prod-a.example.com, hosts: [web-1.prod-a.example.com, web-2.prod-a.example.com] }
  b: { internal: prod-b.example.com, hosts: [web-1.prod-b.example.com, web-2.prod-b.example.com] }
`;
const withQuery = (query: string, more = '') =>
  parseConfig(`${BASE}canary:\n  steps: [{ weight: 5, for: 1m }]\n  analysis:\n    query: ${query}\n${more}`, 'b.yml');

describe('canary.analysis.query in baton.yml', () => {
  it('takes one query or a list, with every and timeout as durations and noData failing by default', () => {
    const one = withQuery(`{ prometheus: 'http://prom:9090', query: 'up', max: 0.05 }`);
    expect(one.issues).toEqual([]);
    expect(planQueries(one.config?.canary?.analysis.query)).toEqual([
      { prometheus: 'http://prom:9090', query: 'up', max: 0.05, everyMs: 10_000, timeoutMs: 5000, noData: 'fail' },
    ]);
    const list = withQuery(
      `\n      - { prometheus: { secret: prom }, query: 'a', min: 1, every: 2s, timeout: 1s, noData: not-judged }` +
        `\n      - { prometheus: 'http://prom:9090/prefix', query: 'b', max: 1 }`,
      'secrets: { prom: { env: PROM_URL } }\n',
    );
    expect(list.issues).toEqual([]);
    expect(planQueries(list.config?.canary?.analysis.query)?.map((q) => [q.prometheus, q.everyMs, q.noData])).toEqual([
      [{ secret: 'prom' }, 2000, 'not-judged'],
      ['http://prom:9090/prefix', 10_000, 'fail'],
    ]);
  });

  it('is refused at its line: an unknown placeholder, no bound, a password written inline', () => {
    const at = (r: ReturnType<typeof withQuery>) => r.issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
    expect(at(withQuery(`{ prometheus: 'http://prom:9090', query: 'up{c="$canry"}', max: 1 }`))).toEqual([
      expect.stringMatching(
        /^9:canary\.analysis\.query\.query: unknown placeholder \$canry; a query may name \$canary, \$stable, /,
      ),
    ]);
    expect(at(withQuery(`{ prometheus: 'http://prom:9090', query: 'up' }`))).toEqual([
      expect.stringMatching(/^9:canary\.analysis\.query: expected max, min or both/),
    ]);
    const inline = withQuery(`{ prometheus: 'http://me:hunter2@prom:9090', query: 'up', max: 1 }`);
    expect(at(inline)).toEqual([
      expect.stringMatching(
        /^9:canary\.analysis\.query\.prometheus: the URL holds a password written inline; .*\{secret/,
      ),
    ]);
    expect(at(inline).join()).not.toContain('hunter2');
    expect(at(withQuery(`{ prometheus: 'http://prom:9090/?x=1', query: 'up', max: 1 }`))).toEqual([
      expect.stringMatching(/without \?query or #fragment/),
    ]);
    expect(at(withQuery(`{ prometheus: { secret: nope }, query: 'up', max: 1 }`))).toEqual([
      expect.stringMatching(/no secret named `nope` under secrets:/),
    ]);
  });

  it('knows $name and ${name}, and no bare $', () => {
    expect(placeholderProblem('x{a="$canary",b="${stable}_x",h=~"$canaryHosts|$stableMembers"}')).toBeUndefined();
    expect(placeholderProblem('x{a="$ "}')).toMatch(/^a \$ that names no placeholder/);
    expect(placeholderProblem('x{a="$canary_total"}')).toMatch(/^unknown placeholder \$canary_total; .*\$\{canary\}_x/);
  });
});

describe('placeholders', () => {
  const values = placeholderValues({
    canary: 'a',
    stable: 'b',
    canaryHosts: ['web-1.prod-a.example.com', 'web-2.prod-a.example.com'],
    stableHosts: ['web-1.prod-b.example.com'],
    canaryMembers: ['web1a', 'web2a'],
    stableMembers: ['web1b'],
  });

  it('give cluster ids as they are and name lists as a regular expression escaped for a PromQL "string"', () => {
    expect(substituteQuery('sum(rate(x{cluster="$canary"}[1m])) / sum(rate(x{cluster="${stable}"}[1m]))', values)).toBe(
      'sum(rate(x{cluster="a"}[1m])) / sum(rate(x{cluster="b"}[1m]))',
    );
    expect(substituteQuery('up{instance=~"($canaryHosts):.*",member=~"$stableMembers"}', values)).toBe(
      'up{instance=~"(web-1\\\\.prod-a\\\\.example\\\\.com|web-2\\\\.prod-a\\\\.example\\\\.com):.*",member=~"web1b"}',
    );
  });

  it('escape what would end the string or the expression, and leave the rest of the text alone', () => {
    const odd = placeholderValues({
      canary: 'a"}',
      stable: 'b',
      canaryHosts: ['h\\1'],
      stableHosts: [],
      canaryMembers: ['m(1)'],
      stableMembers: [],
    });
    expect(substituteQuery('x{c="$canary",h=~"$canaryHosts",m=~"$canaryMembers"} $5', odd)).toBe(
      'x{c="a\\"}",h=~"h\\\\\\\\1",m=~"m\\\\(1\\\\)"} $5',
    );
  });
});

const q = (over: Partial<PlanQuery> = {}): PlanQuery => ({
  prometheus: 'http://prom:9090',
  query: 'err',
  max: 0.05,
  everyMs: 10_000,
  timeoutMs: 5000,
  noData: 'fail',
  ...over,
});
const matrix = (...series: [Record<string, string>, string[]][]) =>
  JSON.stringify({
    status: 'success',
    data: {
      resultType: 'matrix',
      result: series.map(([metric, vs]) => ({ metric, values: vs.map((v, i) => [1700000000 + i, v]) })),
    },
  });

describe('an answer', () => {
  it("reads a matrix as each series' last value that is a number", () => {
    expect(
      readAnswer(200, matrix([{ cluster: 'a' }, ['0.5', '0.1', 'NaN']], [{ cluster: 'b' }, ['1', '+Inf']])),
    ).toEqual({
      series: [
        { labels: { cluster: 'a' }, value: 0.1 },
        { labels: { cluster: 'b' }, value: Infinity },
      ],
    });
  });

  it('reads a vector and a scalar, and an empty result as no series', () => {
    const vector = { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, '-Inf'] }] } };
    expect(readAnswer(200, JSON.stringify(vector))).toEqual({ series: [{ labels: {}, value: -Infinity }] });
    const scalar = { status: 'success', data: { resultType: 'scalar', result: [1, '3'] } };
    expect(readAnswer(200, JSON.stringify(scalar))).toEqual({ series: [{ labels: {}, value: 3 }] });
    expect(readAnswer(200, matrix())).toEqual({ series: [] });
  });

  it("says Prometheus' error, an answer that is not JSON, and one that holds no numbers", () => {
    const bad = { status: 'error', errorType: 'bad_data', error: 'parse error at char 5' };
    expect(readAnswer(400, JSON.stringify(bad))).toEqual({
      error: 'HTTP 400, Prometheus says bad_data: parse error at char 5',
    });
    expect(readAnswer(502, '<html>Bad Gateway</html>')).toEqual({
      error: 'HTTP 502, not Prometheus JSON: "<html>Bad Gateway</html>"',
    });
    const text = { status: 'success', data: { resultType: 'string', result: [1, 'x'] } };
    expect(readAnswer(200, JSON.stringify(text))).toEqual({
      error: 'HTTP 200, an answer of type "string" that holds no numbers',
    });
  });
});

describe('judging a query', () => {
  it('passes at or under max, and fails on the highest series above it, naming it', () => {
    expect(judgeQuery(q(), readAnswer(200, matrix([{}, ['0.05']])))).toMatchObject({
      verdict: 'pass',
      value: 0.05,
      shown: '0.05',
      series: 1,
    });
    const r = judgeQuery(q(), readAnswer(200, matrix([{ c: 'a' }, ['0.01']], [{ c: 'b' }, ['0.2', '0.12']])));
    expect(r).toMatchObject({ verdict: 'fail', value: 0.12, series: 2, worst: '{c="b"}' });
    expect(r.message).toBe('query `err` = 0.12 > max 0.05 (the highest of 2 series: {c="b"})');
  });

  it('fails on the lowest series under min, and on +Inf above max', () => {
    const min = judgeQuery(q({ max: undefined, min: 0.99 }), readAnswer(200, matrix([{}, ['1']], [{}, ['0.9']])));
    expect(min).toMatchObject({ verdict: 'fail', value: 0.9 });
    expect(min.message).toMatch(/^query `err` = 0\.9 < min 0\.99/);
    const inf = judgeQuery(q(), readAnswer(200, matrix([{}, ['+Inf']])));
    expect(inf).toMatchObject({ verdict: 'fail', shown: '+Inf' });
    expect(inf).not.toHaveProperty('value');
  });

  it('says no data for no series, only NaN, or no answer, never passing it', () => {
    expect(judgeQuery(q(), readAnswer(200, matrix()))).toMatchObject({
      verdict: 'no-data',
      message: 'query `err`: no data (no series)',
    });
    expect(judgeQuery(q(), readAnswer(200, matrix([{}, ['NaN', 'NaN']])))).toMatchObject({
      verdict: 'no-data',
      message: 'query `err`: no data (1 series, every value NaN)',
    });
    expect(judgeQuery(q(), { error: 'ECONNREFUSED' })).toMatchObject({
      verdict: 'no-data',
      message: 'query `err`: no answer (ECONNREFUSED)',
    });
  });

  it('asks over the step so far in whole seconds, about 100 points, at least 1 s apart', () => {
    expect(rangeOf(1_700_000_000_500, 1_700_000_010_200)).toEqual({
      start: 1_700_000_000,
      end: 1_700_000_011,
      step: 1,
    });
    expect(rangeOf(0, 600_000)).toEqual({ start: 0, end: 600, step: 6 });
  });
});

/** A loopback HTTP server standing in for Prometheus: it answers what `answer` says and keeps each request. */
let answer: (url: URL) => { status: number; body: string; delayMs?: number } = () => ({ status: 200, body: matrix() });
const asked: { url: URL; auth?: string }[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://x');
  asked.push({ url, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
  const a = answer(url);
  setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body), a.delayMs ?? 0);
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('asking Prometheus', () => {
  it('sends a range query under the base path, with user:password@ as basic authentication', async () => {
    asked.length = 0;
    answer = () => ({ status: 200, body: matrix([{}, ['1']]) });
    const base2 = base.replace('http://', 'http://me:p%40ss@') + '/prom/';
    const a = await askPrometheus(base2, { query: 'up{c="a"}', start: 10, end: 20, step: 1 }, { timeoutMs: 2000 });
    expect(a).toEqual({ status: 200, body: matrix([{}, ['1']]) });
    const [r] = asked;
    expect(r?.url.pathname).toBe('/prom/api/v1/query_range');
    expect(Object.fromEntries(r?.url.searchParams ?? [])).toEqual({
      query: 'up{c="a"}',
      start: '10',
      end: '20',
      step: '1',
      timeout: '1s',
    });
    expect(r?.auth).toBe(`Basic ${Buffer.from('me:p@ss').toString('base64')}`);
  });

  it('says a timeout and a refused connection without naming the URL', async () => {
    answer = () => ({ status: 200, body: matrix(), delayMs: 500 });
    const slow = await askPrometheus(base, { query: 'up', start: 0, end: 1, step: 1 }, { timeoutMs: 100 });
    expect(slow).toEqual({ error: 'no answer within 100 ms' });
    const closed = await askPrometheus(
      'http://127.0.0.1:1',
      { query: 'up', start: 0, end: 1, step: 1 },
      { timeoutMs: 500 },
    );
    expect(closed).toEqual({ error: 'ECONNREFUSED' });
  });
});

const config = planConfigFixture();
const observed = observedFixture();
const release = releaseFor('v2', 'cccccccccccccccccccccccccccccccccccccccc');
const TEMPLATE = '(sum(rate(http_requests_total{cluster="$canary",status=~"5.."}[1m])) or vector(0))';
const input = (queries: PlanQuery[], forMs = 60): CanaryInput => ({
  steps: [{ weight: 5, forMs }],
  // Loose thresholds: only the query judges.
  analysis: { max5xxRatio: 1, maxRelative5xx: 1000, minRequests: 1, queries },
  weighing: { can: true, min: 1, max: 256 },
  scope: 'members',
  weights: { web1a: 1, web2a: 1, web1b: 1, web2b: 1 },
});
const planOf = (i: CanaryInput) =>
  buildBlueGreenPlan({ config, observed, release, createdBy: 't', now: new Date('2026-12-07T00:00:00Z'), canary: i });
const firstStep = (i: CanaryInput) => planOf(i).forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;

describe('a plan with a query', () => {
  it("substitutes the placeholders in each step, keeps them as written in the plan's record, remakes the plan", () => {
    const p = planOf(input([q({ query: TEMPLATE, prometheus: { secret: 'prom' } })]));
    const step = p.forward.find((s) => s.id === 'canary-a-1') as StepOf<'canary'>;
    expect(step.analysis.queries?.[0]?.query).toBe(
      '(sum(rate(http_requests_total{cluster="a",status=~"5.."}[1m])) or vector(0))',
    );
    expect(stepProblems(step)).toEqual([]);
    expect(p.canary?.analysis.queries?.[0]?.query).toBe(TEMPLATE);
    expect(isPlanCanary(JSON.parse(JSON.stringify(p.canary)))).toBe(true);
    expect(planOf(canaryInputOf(p.canary!)).hash).toBe(p.hash);
    expect(step.title).toMatch(/and reversed on Prometheus query `\(sum\(.*cluster="a".*` at \{secret: prom\} > 0\.05/);
    expect(describePlanCanary(p.canary!)).toMatch(
      /; and on Prometheus query `.*cluster="\$canary".*` at \{secret: prom\} > 0\.05/,
    );
    expect(describePlanCanary(p.canary!)).toMatch(
      /\(the worst series' last value, asked every 10s and at the step's end; no data fails the step\)/,
    );
  });

  it('loads an older plan without queries, and refuses a query record without a bound', () => {
    const p = planOf(input([q()]));
    const { queries: _q, ...older } = p.canary!.analysis;
    expect(isPlanCanary({ ...p.canary, analysis: older })).toBe(true);
    const unbounded = { ...q(), max: undefined };
    expect(isPlanCanary({ ...p.canary, analysis: { ...older, queries: [unbounded] } })).toBe(false);
  });
});

describe('a canary step run with a query', () => {
  const balancer = () => {
    const b = fakeBalancer({ web1a: 'drain', web2a: 'drain', web1b: 'ready', web2b: 'ready' });
    let n = 0;
    return Object.assign(b, {
      memberCounters: async () => {
        n++;
        const c = (k: number) => ({ requests: k * n, http5xx: 0 });
        return { web1a: c(5), web2a: c(5), web1b: c(95), web2b: c(95) };
      },
    });
  };
  const envOf = (secrets = new Secrets()) =>
    ({
      balancer: balancer(),
      config: { smoke: { deadlineMs: 1000 }, resolve: {}, secrets: {} },
      secrets,
    }) as unknown as StepEnv;

  it('fails the step on the value above max, the verdict naming the query and its value', async () => {
    asked.length = 0;
    answer = () => ({ status: 200, body: matrix([{ cluster: 'a' }, ['0.02', '0.1']]) });
    const step = firstStep(input([q({ prometheus: base, query: TEMPLATE, everyMs: 1000 })], 5000));
    const err = await runCanary(step, envOf(), () => undefined, { pollMs: 20 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'canary at 5% failed its analysis on query `(sum(rate(http_requests_total{cluster="a",status=~"5.."}[1m])) ' +
        'or vector(0))` = 0.1 > max 0.05',
    );
    expect((err as { data?: unknown }).data).toMatchObject({
      metric: 'query',
      verdict: 'fail',
      queries: [{ verdict: 'fail', value: 0.1, max: 0.05 }],
      canary: { http5xx: 0 },
    });
    // Asked about a second in, not every poll: at most twice in the time it took.
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked.length).toBeLessThanOrEqual(2);
    expect(asked[0]?.url.searchParams.get('query')).toContain('cluster="a"');
  });

  it("passes with the value in the step's result, asked at the step's end, the URL read from its secret", async () => {
    asked.length = 0;
    answer = () => ({ status: 200, body: matrix([{}, ['0', '0.01']]) });
    const step = firstStep(input([q({ prometheus: { secret: 'prom' } })], 60));
    const secrets = new Secrets(new Map([['prom', base.replace('http://', 'http://u:s3cret@')]]));
    const progress: string[] = [];
    const result = await runCanary(step, envOf(secrets), (m) => progress.push(m), { pollMs: 10 });
    expect(result).toMatchObject({
      verdict: 'pass',
      queries: [{ query: 'err', verdict: 'pass', value: 0.01, shown: '0.01', max: 0.05, series: 1 }],
    });
    expect(asked.map((a) => a.auth)).toEqual([`Basic ${Buffer.from('u:s3cret').toString('base64')}`]);
    expect(progress).toContain('canary 5%: query `err` = 0.01');
    expect(JSON.stringify({ step, result, progress })).not.toContain('s3cret');
  });

  it("fails on no data at the step's end under noData: fail, and says it was not judged under not-judged", async () => {
    answer = () => ({ status: 200, body: matrix() });
    const failing = firstStep(input([q({ prometheus: base })], 40));
    await expect(runCanary(failing, envOf(), () => undefined, { pollMs: 10 })).rejects.toThrow(
      'canary at 5% failed its analysis on query `err`: no data (no series)',
    );
    answer = () => ({ status: 503, body: '{"status":"error","errorType":"unavailable","error":"starting"}' });
    const lenient = firstStep(input([q({ prometheus: base, noData: 'not-judged' })], 40));
    const result = await runCanary(lenient, envOf(), () => undefined, { pollMs: 10 });
    expect(result).toMatchObject({
      verdict: 'pass',
      queries: [{ verdict: 'no-data' }],
      note: 'query `err`: no answer (HTTP 503, Prometheus says unavailable: starting): not judged',
    });
  });
});

describe("a query's value in the event stream and the report", () => {
  const reading = {
    query: 'err{cluster="a"}',
    verdict: 'fail',
    value: 0.1,
    shown: '0.1',
    max: 0.05,
    series: 1,
    message: 'query `err{cluster="a"}` = 0.1 > max 0.05',
  };

  it("rides on a canary step's step-ok event, field by field", () => {
    const canary = { id: 'canary-a-1', kind: 'canary', title: 'c', undo: [] } as unknown as StepOf<'canary'>;
    const plan = { release: { tag: 'v2' }, hash: 'h', forward: [canary] } as unknown as Plan;
    const lines: unknown[] = [];
    const r = new JsonLinesReporter(plan, (e) => lines.push({ v: 1, ts: new Date().toISOString(), ...e }));
    const passed = { ...reading, verdict: 'pass', value: 0, shown: '0', message: undefined, extra: 'dropped' };
    r.stepSucceeded(canary, 'forward', 8000, {
      weight: 5,
      verdict: 'pass',
      canary: { requests: 100, http5xx: 0 },
      queries: [passed],
    });
    const ok = RunEvent.parse(lines.at(-1));
    expect(ok).toMatchObject({
      canary: { queries: [{ query: 'err{cluster="a"}', verdict: 'pass', value: 0, shown: '0', max: 0.05, series: 1 }] },
    });
    expect(JSON.stringify(ok)).not.toContain('dropped');
  });

  it('shows in the Canary table: the query, its value and its bounds, or no data and why', () => {
    const T = Date.parse('2026-12-07T10:00:00.000Z');
    const ts = (s: number) => new Date(T + s * 1000).toISOString();
    const run = '20261207-100000-canary-query';
    const records = [
      { ts: ts(0), run, event: 'run-begin', command: 'push', plan: 'sha256:p', tag: 'v9', by: 'ada', steps: [] },
      { ts: ts(1), run, event: 'step-begin', step: 'canary-a-1', kind: 'canary', title: 'c', phase: 'forward' },
      {
        ts: ts(9),
        run,
        event: 'step-fail',
        step: 'canary-a-1',
        phase: 'forward',
        ms: 8000,
        error: `canary at 5% failed its analysis on ${reading.message}`,
        found: {
          weight: 5,
          verdict: 'fail',
          metric: 'query',
          canary: { requests: 100, http5xx: 0 },
          queries: [reading, { query: 'lat', verdict: 'no-data', series: 0, min: 1, message: 'query `lat`: no data' }],
        },
      },
      { ts: ts(10), run, event: 'run-end', outcome: 'reversed', ms: 10_000 },
    ] as unknown as Parameters<typeof reportData>[1];
    const d = reportData(run, records);
    expect(d.canary?.[0]).toMatchObject({
      metric: 'query',
      queries: [
        { query: 'err{cluster="a"}', verdict: 'fail', shown: '0.1', max: 0.05 },
        { query: 'lat', verdict: 'no-data', min: 1 },
      ],
    });
    const table = /<table id="canary">.*?<\/table>/s.exec(reportHtml(d))?.[0] ?? '';
    expect(table).toContain('<th>Prometheus</th>');
    expect(table).toContain('<code>err{cluster=&quot;a&quot;}</code> = <strong>0.1</strong> (max 0.05)');
    expect(table).toContain('<code>lat</code> = no data: query `lat`: no data');
    expect(table).toContain('<strong>failed on query</strong>');
  });
});
