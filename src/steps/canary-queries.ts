// A canary step's Prometheus queries while it holds its share: each asked over the step so far
// every `every` (in the background, so the balancer's counters are still judged each second) and
// once more at the step's end. A value past its bound fails the step at once; no data only at the
// end, and only where the query says `noData: fail`.
import { askPrometheus } from '../checks/prometheus.js';
import { resolveNamedSecret } from '../config/secrets.js';
import { OperationFailedError, UserError } from '../errors.js';
import { judgeQuery, rangeOf, readAnswer, type PlanQuery, type QueryReading } from '../model/canary-query.js';
import type { StepOf } from '../model/steps.js';
import type { Progress, StepEnv } from './env.js';

/** What the step's result and its failure carry of the queries. */
export interface QueriesSaid {
  queries?: QueryReading[];
  notes: string[];
}

export class CanaryQueries {
  private readonly queries: readonly PlanQuery[];
  private readonly readings: (QueryReading | undefined)[];
  private readonly nextAt: number[];
  private asking?: Promise<void>;
  private readonly fresh: QueryReading[] = [];

  constructor(
    private readonly step: StepOf<'canary'>,
    private readonly env: Pick<StepEnv, 'config' | 'secrets'>,
    private readonly began: number,
    private readonly progress: Progress,
  ) {
    this.queries = step.analysis.queries ?? [];
    this.readings = this.queries.map(() => undefined);
    this.nextAt = this.queries.map((q) => began + q.everyMs);
  }

  /** Starts the asks that are due, unless some are under way; the first reading past its bound so far. */
  poll(now = Date.now()): QueryReading | undefined {
    const due = this.queries.flatMap((q, i) => ((this.nextAt[i] as number) <= now ? [i] : []));
    if (!this.asking && due.length) {
      for (const i of due) this.nextAt[i] = now + (this.queries[i] as PlanQuery).everyMs;
      this.asking = Promise.all(due.map((i) => this.ask(i, now))).then(() => (this.asking = undefined));
    }
    this.tell();
    return this.failed();
  }

  /** The step's end: what is under way is awaited, every query is asked once more, and what came of it. */
  async finish(): Promise<{ failed?: QueryReading } & QueriesSaid> {
    await this.asking;
    const end = Date.now();
    await Promise.all(this.queries.map((_, i) => this.ask(i, end)));
    this.tell();
    const failed =
      this.failed() ?? this.readings.find((r, i) => r?.verdict === 'no-data' && this.queries[i]?.noData === 'fail');
    const notes = this.readings.flatMap((r, i) =>
      r?.verdict === 'no-data' && this.queries[i]?.noData === 'not-judged' ? [`${r.message}: not judged`] : [],
    );
    return { ...(failed ? { failed } : {}), ...this.said(), notes };
  }

  /** The latest reading of each query, for the step's result or its failure. */
  said(): Pick<QueriesSaid, 'queries'> {
    const queries = this.readings.filter((r): r is QueryReading => r !== undefined);
    return queries.length ? { queries } : {};
  }

  private failed(): QueryReading | undefined {
    return this.readings.find((r) => r?.verdict === 'fail');
  }

  private async ask(i: number, endMs: number): Promise<void> {
    const q = this.queries[i] as PlanQuery;
    const answer = await this.urlOf(q).then(
      (url) =>
        askPrometheus(
          url,
          { query: q.query, ...rangeOf(this.began, endMs) },
          { timeoutMs: q.timeoutMs, resolve: this.env.config.resolve },
        ),
      (e: unknown) => ({ error: e instanceof UserError ? e.message : String(e) }),
    );
    const read = 'error' in answer ? answer : readAnswer(answer.status, answer.body);
    const r = judgeQuery(q, read);
    // A server may echo what it was sent: no secret reaches the journal through its words.
    const reading = r.message ? { ...r, message: this.env.secrets.redact(r.message) } : r;
    // A failure stays the verdict, whatever a later answer says.
    if (this.readings[i]?.verdict !== 'fail') this.readings[i] = reading;
    this.fresh.push(reading);
  }

  /** Says the readings that came in since it last did (from the step's own turn, never after it ended). */
  private tell(): void {
    for (const r of this.fresh.splice(0))
      this.progress(
        `canary ${this.step.weight}%: ` + (r.shown !== undefined ? `query \`${r.query}\` = ${r.shown}` : r.message),
      );
  }

  /** The base URL: as the plan says it, or the value of the secret it names (read when the session opened). */
  private async urlOf(q: PlanQuery): Promise<string> {
    if (typeof q.prometheus === 'string') return q.prometheus;
    try {
      return this.env.secrets.value(q.prometheus);
    } catch {
      // Not read up front: baton.yml no longer asks this query; its secret may still be named.
      return resolveNamedSecret(q.prometheus.secret, this.env.config);
    }
  }
}

/** The step's failure on a query, with what the balancer counted as well (the report shows both). */
export function queryFailure(step: StepOf<'canary'>, r: QueryReading, found: Record<string, unknown>): Error {
  return new OperationFailedError(
    `canary at ${step.weight}% failed its analysis on ${r.message ?? `query \`${r.query}\``}`,
    undefined,
    undefined,
    { weight: step.weight, weights: step.weights, ...found, verdict: 'fail', metric: 'query' },
  );
}
