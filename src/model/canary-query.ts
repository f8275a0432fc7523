// A canary's Prometheus queries as data and a rule: the placeholders substituted when the plan is
// made, a query_range answer read (matrix, vector or scalar; NaN is no value, ±Inf is one), and
// the worst of each series' last value compared with max and min. Pure: the canary step asks
// Prometheus through src/checks/prometheus.ts and judges the answer with these.
import type { BatonConfigParsed } from '../config/schema.js';
import { PLACEHOLDER_PATTERN, type QueryPlaceholder } from '../config/canary-query.js';
import { formatDuration } from '../config/duration.js';

type ConfigQuery = Extract<
  NonNullable<NonNullable<BatonConfigParsed['canary']>['analysis']['query']>,
  readonly unknown[]
>[number];

/** One query as a plan records it (in the canary record as written; in each canary step substituted). */
export interface PlanQuery {
  /** The base URL as baton.yml gives it, or the secret that holds it: never a secret's value. */
  prometheus: string | { secret: string };
  query: string;
  max?: number;
  min?: number;
  everyMs: number;
  timeoutMs: number;
  /** No series at the step's end, or no answer: fail the step, or let it go on (said in its result). */
  noData: 'fail' | 'not-judged';
}

/** baton.yml's canary.analysis.query (one or a list) as the plan records it. */
export function planQueries(q: ConfigQuery | readonly ConfigQuery[] | undefined): PlanQuery[] | undefined {
  if (!q) return undefined;
  return (Array.isArray(q) ? q : [q]).map((c: ConfigQuery) => ({
    prometheus: typeof c.prometheus === 'string' ? c.prometheus : { secret: c.prometheus.secret },
    query: c.query,
    ...(c.max !== undefined ? { max: c.max } : {}),
    ...(c.min !== undefined ? { min: c.min } : {}),
    everyMs: c.every,
    timeoutMs: c.timeout,
    noData: c.noData,
  }));
}

/** The two sides of a canary, as the placeholders name them. */
export interface QuerySides {
  canary: string;
  stable: string;
  canaryHosts: readonly string[];
  stableHosts: readonly string[];
  canaryMembers: readonly string[];
  stableMembers: readonly string[];
}

// Inside a PromQL "double-quoted" string a backslash and a quote are escaped; in a regular expression, its specials.
const promString = (s: string) => s.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n');
const regexOf = (names: readonly string[]) => names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');

/** Each placeholder's text: cluster ids as they are, name lists as a regular expression, escaped for "…". */
export function placeholderValues(s: QuerySides): Record<QueryPlaceholder, string> {
  return {
    canary: promString(s.canary),
    stable: promString(s.stable),
    canaryHosts: promString(regexOf(s.canaryHosts)),
    stableHosts: promString(regexOf(s.stableHosts)),
    canaryMembers: promString(regexOf(s.canaryMembers)),
    stableMembers: promString(regexOf(s.stableMembers)),
  };
}

/** The query with its placeholders replaced (text only: it is sent as one URL parameter, never to a shell). */
export function substituteQuery(template: string, values: Record<QueryPlaceholder, string>): string {
  return template.replace(PLACEHOLDER_PATTERN, (whole, braced?: string, bare?: string) => {
    const name = (braced ?? bare ?? '') as QueryPlaceholder;
    return Object.hasOwn(values, name) ? values[name] : whole;
  });
}

/** The queries of a canary step: substituted for its sides. */
export function queriesFor(queries: readonly PlanQuery[], sides: QuerySides): PlanQuery[] {
  const values = placeholderValues(sides);
  return queries.map((q) => ({ ...q, query: substituteQuery(q.query, values) }));
}

/** Where the query is asked, as plans and messages say it: the URL baton.yml wrote, or the secret's name. */
export const prometheusLabel = (q: Pick<PlanQuery, 'prometheus'>) =>
  typeof q.prometheus === 'string' ? q.prometheus : `{secret: ${q.prometheus.secret}}`;

const bounds = (q: Pick<PlanQuery, 'max' | 'min'>) =>
  [...(q.max !== undefined ? [`> ${q.max}`] : []), ...(q.min !== undefined ? [`< ${q.min}`] : [])].join(' or ');

/** One query as the plan says it. */
export function describeQuery(q: PlanQuery): string {
  return (
    `Prometheus query \`${q.query}\` at ${prometheusLabel(q)} ${bounds(q)} ` +
    `(the worst series' last value, asked every ${formatDuration(q.everyMs)} and at the step's end; ` +
    `no data ${q.noData === 'fail' ? 'fails the step' : 'is not judged'})`
  );
}

/** The step so far as a query_range asks it: whole seconds, about 100 points, each at least 1 s apart. */
export function rangeOf(startMs: number, endMs: number): { start: number; end: number; step: number } {
  const start = Math.floor(startMs / 1000);
  const end = Math.max(start + 1, Math.ceil(endMs / 1000));
  return { start, end, step: Math.max(1, Math.ceil((end - start) / 100)) };
}

/** One series of an answer: its labels, and its last value that is a number (absent: none was). */
export interface Series {
  labels: Record<string, string>;
  value?: number;
}

export type Answer = { series: Series[] } | { error: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A sample's value as Prometheus writes it ("0.5", "NaN", "+Inf"): NaN is no value, ±Inf is one. */
function sampleValue(v: unknown): number | undefined {
  if (!Array.isArray(v) || typeof v[1] !== 'string') return undefined;
  const s = v[1];
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  const n = Number(s);
  return s.trim() !== '' && !Number.isNaN(n) ? n : undefined;
}

const labelsOf = (m: unknown): Record<string, string> =>
  isObj(m) ? Object.fromEntries(Object.entries(m).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};

/** An answer from /api/v1/query_range (or /query): its series, or what went wrong, in one line. */
export function readAnswer(status: number, body: string): Answer {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    const start = body.slice(0, 80).replace(/\s+/g, ' ');
    return { error: `HTTP ${status}, not Prometheus JSON${start ? `: ${JSON.stringify(start)}` : ''}` };
  }
  if (!isObj(doc)) return { error: `HTTP ${status}, not Prometheus JSON` };
  if (doc.status !== 'success') {
    const kind = typeof doc.errorType === 'string' ? `${doc.errorType}: ` : '';
    const said = typeof doc.error === 'string' ? doc.error : 'no error given';
    return { error: `HTTP ${status}, Prometheus says ${kind}${said}` };
  }
  const data = doc.data;
  if (!isObj(data)) return { error: `HTTP ${status}, an answer without data` };
  const result = data.result;
  switch (data.resultType) {
    case 'matrix':
      if (!Array.isArray(result)) break;
      return {
        series: result.map((r: unknown) => {
          const values = isObj(r) && Array.isArray(r.values) ? r.values : [];
          const last = values
            .map(sampleValue)
            .reverse()
            .find((v) => v !== undefined);
          return { labels: labelsOf(isObj(r) ? r.metric : undefined), ...(last !== undefined ? { value: last } : {}) };
        }),
      };
    case 'vector':
      if (!Array.isArray(result)) break;
      return {
        series: result.map((r: unknown) => {
          const v = isObj(r) ? sampleValue(r.value) : undefined;
          return { labels: labelsOf(isObj(r) ? r.metric : undefined), ...(v !== undefined ? { value: v } : {}) };
        }),
      };
    case 'scalar': {
      const v = sampleValue(result);
      return { series: [{ labels: {}, ...(v !== undefined ? { value: v } : {}) }] };
    }
  }
  return { error: `HTTP ${status}, an answer of type ${JSON.stringify(data.resultType)} that holds no numbers` };
}

/** What one query said: pass, fail, or no data (no series, only NaN, or no answer). */
export interface QueryReading {
  query: string;
  verdict: 'pass' | 'fail' | 'no-data';
  /** The value judged (the worst series' last), when finite; ±Inf is said in `shown`. */
  value?: number;
  /** The value as text: `0.0123`, `+Inf`, or absent with no data. */
  shown?: string;
  max?: number;
  min?: number;
  /** Series in the answer. */
  series: number;
  /** The worst series' labels, when there were several. */
  worst?: string;
  /** For fail and no-data: in one line, the query, its value and the bound (or why there was none). */
  message?: string;
}

const show = (v: number) => (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(+v.toPrecision(6)));
const labelsText = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;

/** The worst series against max and min: over max is judged on the highest, under min on the lowest. */
export function judgeQuery(q: Pick<PlanQuery, 'query' | 'max' | 'min'>, answer: Answer): QueryReading {
  const base = {
    query: q.query,
    ...(q.max !== undefined ? { max: q.max } : {}),
    ...(q.min !== undefined ? { min: q.min } : {}),
  };
  if ('error' in answer)
    return { ...base, verdict: 'no-data', series: 0, message: `query \`${q.query}\`: no answer (${answer.error})` };
  const valued = answer.series.filter((s): s is Series & { value: number } => s.value !== undefined);
  if (!valued.length)
    return {
      ...base,
      verdict: 'no-data',
      series: answer.series.length,
      message:
        `query \`${q.query}\`: no data ` +
        (answer.series.length ? `(${answer.series.length} series, every value NaN)` : '(no series)'),
    };
  const highest = valued.reduce((a, b) => (b.value > a.value ? b : a));
  const lowest = valued.reduce((a, b) => (b.value < a.value ? b : a));
  const over = q.max !== undefined && highest.value > q.max;
  const under = !over && q.min !== undefined && lowest.value < q.min;
  // The value shown is the one nearest its bound's wrong side: the highest against max, else the lowest against min.
  const judged = over || (!under && q.max !== undefined) ? highest : lowest;
  const several = valued.length > 1 ? { worst: labelsText(judged.labels) } : {};
  const reading = {
    ...base,
    ...(Number.isFinite(judged.value) ? { value: judged.value } : {}),
    shown: show(judged.value),
    series: answer.series.length,
    ...several,
  };
  if (!over && !under) return { ...reading, verdict: 'pass' };
  const of =
    valued.length > 1 ? ` (the ${over ? 'highest' : 'lowest'} of ${valued.length} series: ${several.worst})` : '';
  return {
    ...reading,
    verdict: 'fail',
    message: `query \`${q.query}\` = ${show(judged.value)} ${over ? `> max ${q.max}` : `< min ${q.min}`}${of}`,
  };
}

/** Whether a plan file's queries have the shape a step asks from (absent is fine: older plans have none). */
export function isPlanQueries(v: unknown): v is PlanQuery[] | undefined {
  if (v === undefined) return true;
  const n = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  return (
    Array.isArray(v) &&
    v.every(
      (q: unknown) =>
        isObj(q) &&
        (typeof q.prometheus === 'string' || (isObj(q.prometheus) && typeof q.prometheus.secret === 'string')) &&
        typeof q.query === 'string' &&
        (q.max === undefined || n(q.max)) &&
        (q.min === undefined || n(q.min)) &&
        (q.max !== undefined || q.min !== undefined) &&
        n(q.everyMs) &&
        n(q.timeoutMs) &&
        (q.noData === 'fail' || q.noData === 'not-judged'),
    )
  );
}
