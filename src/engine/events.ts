// The run as a stream a pipeline can act on while it goes (`--format jsonl`): one JSON object a
// line on stdout, in the order things happen, the result last. The schema is versioned
// (`v`) and published as templates/events.schema.json, generated from these definitions.
import { z } from 'zod';
import { writeOut } from '../output.js';
import { PLAN_KINDS, planKindOf, type Plan } from '../model/plan.js';
import type { QueryReading } from '../model/canary-query.js';
import { stepIs } from '../model/step-kinds.js';
import { isPushStep, type AnyStep } from '../model/steps.js';
import { type Phase, ProgressThrottle, type Reporter } from './reporter.js';
import type { TrafficSample } from './traffic.js';

export const EVENTS_VERSION = 1;

const base = { v: z.literal(EVENTS_VERSION), ts: z.iso.datetime().describe('when it happened (UTC)') };
const PhaseSchema = z.enum(['forward', 'reverse']);
const CountsSchema = z.strictObject({ requests: z.number().int().min(0), http5xx: z.number().int().min(0) });
const SideSchema = CountsSchema.extend({
  failed: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('attempts these members failed (connections refused or reset), not in requests; absent: not counted'),
  latency: z
    .strictObject({
      ms: z.number().min(0).describe('mean response time over the step, in ms'),
      timed: z.number().int().min(0).describe('requests it is the mean of'),
      errMs: z.number().min(0).describe("how far the mean may be off (HAProxy's moving rtime read in whole ms)"),
    })
    .optional()
    .describe('absent: the balancer kept no response times for these members'),
});

const QuerySchema = z.strictObject({
  query: z.string().describe('the PromQL asked, placeholders substituted'),
  verdict: z.enum(['pass', 'fail', 'no-data']),
  value: z.number().optional().describe("the value judged (the worst series' last), when finite"),
  shown: z.string().optional().describe('the value as text (+Inf, -Inf too); absent with no data'),
  max: z.number().optional(),
  min: z.number().optional(),
  series: z.number().int().min(0).describe('series in the answer'),
  worst: z.string().optional().describe("the judged series' labels, when there were several"),
  message: z.string().optional().describe('for fail and no-data: why, in one line'),
});

export const RunEvent = z.discriminatedUnion('event', [
  z.strictObject({
    ...base,
    event: z.literal('run-begin'),
    kind: z.enum([...PLAN_KINDS, 'dns']),
    tag: z.string().describe('the release pushed or returned to; for dns, the site'),
    phase: z.string().optional().describe('for dns: the phase run (plan, proxy-install, cutover, finish, rollback)'),
    hash: z.string().describe('the plan hash'),
    steps: z.array(z.string()).describe('forward step ids, in order'),
  }),
  z.strictObject({
    ...base,
    event: z.literal('step-begin'),
    step: z.string(),
    kind: z.string(),
    title: z.string(),
    phase: PhaseSchema,
    cluster: z.enum(['a', 'b']).optional(),
    hosts: z.number().int().min(0).describe('hosts the step runs on (0: the balancer or the lock only)'),
  }),
  z.strictObject({ ...base, event: z.literal('step-progress'), step: z.string(), message: z.string() }),
  z.strictObject({
    ...base,
    event: z.literal('step-ok'),
    step: z.string(),
    phase: PhaseSchema,
    seconds: z.number().min(0),
    weights: z
      .record(z.string(), z.number())
      .optional()
      .describe("a step that set member weights (a canary share, or the weights put back): each member's weight"),
    canary: z
      .strictObject({
        weight: z.number().describe('the share of public traffic, in percent'),
        verdict: z.enum(['pass', 'too-few']).describe('too-few: fewer than analysis.minRequests, not judged'),
        canary: SideSchema.describe('requests, 5xx and mean response time on the canary members over the step'),
        stable: SideSchema.optional().describe('the same on the stable members, judged against'),
        queries: z
          .array(QuerySchema)
          .optional()
          .describe("each Prometheus query (canary.analysis.query) as last asked, at the step's end"),
      })
      .optional()
      .describe('a canary step that held its share: what it judged (a failed one ends in step-fail naming the metric)'),
  }),
  z.strictObject({
    ...base,
    event: z.literal('step-fail'),
    step: z.string(),
    phase: PhaseSchema,
    seconds: z.number().min(0),
    error: z.string(),
  }),
  z.strictObject({
    ...base,
    event: z.literal('reversal'),
    reason: z.string(),
    steps: z.array(z.string()).describe('undo step ids, in the order they run'),
  }),
  z.strictObject({ ...base, event: z.literal('notice'), message: z.string() }),
  z.strictObject({
    ...base,
    event: z.literal('sample'),
    members: z.array(
      z.strictObject({
        name: z.string(),
        cluster: z.enum(['a', 'b']).optional().describe('absent: a member baton.yml does not name'),
        state: z.enum(['ready', 'drain', 'maint', 'down']),
        sessions: z.number().int().min(0).describe('requests or sessions in flight on the member'),
      }),
    ),
    requests: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('requests the balancer has counted since it started, where the driver can count them'),
    http5xx: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('5xx answers the balancer has counted since it started, where the driver can count them'),
  }),
  z.strictObject({
    ...base,
    event: z.literal('result'),
    exitCode: z.number().int().describe('the exit code the command ends with (see `baton exit-codes`)'),
    result: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('what the run did, the same document `--json` prints on success'),
    error: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('the error, as `--json` prints it, when the command failed'),
  }),
]);

export type RunEvent = z.infer<typeof RunEvent>;

/** What a run's first line says of it: a push or rollback's plan, or a DNS migration's phase. */
export type RunHeader = Omit<Extract<RunEvent, { event: 'run-begin' }>, 'v' | 'ts' | 'event'>;
type Without<T> = T extends unknown ? Omit<T, 'v' | 'ts'> : never;

/** Write one event line to stdout (best effort, like all output). */
export function emitEvent(e: Without<RunEvent>): void {
  writeOut(`${JSON.stringify({ v: EVENTS_VERSION, ts: new Date().toISOString(), ...e })}\n`);
}

/** The event stream's JSON Schema, as written to templates/events.schema.json. */
export function eventsJsonSchemaText(): string {
  const { $schema, ...rest } = z.toJSONSchema(RunEvent, { io: 'output' });
  const title = `baton run events, version ${EVENTS_VERSION}`;
  return `${JSON.stringify({ $schema, $id: 'urn:baton:schema:events', title, ...rest }, null, 2)}\n`;
}

/** The Reporter that writes the stream: every event as it happens, unthrottled but for progress. */
export class JsonLinesReporter implements Reporter {
  private readonly progress = new ProgressThrottle();
  private lastSample = -Infinity;

  constructor(
    plan: Plan | RunHeader,
    private readonly emit: (e: Without<RunEvent>) => void = emitEvent,
  ) {
    const header: RunHeader =
      'release' in plan
        ? { kind: planKindOf(plan), tag: plan.release.tag, hash: plan.hash, steps: plan.forward.map((s) => s.id) }
        : plan;
    emit({ event: 'run-begin', ...header });
  }

  stepStarted(step: AnyStep, phase: Phase): void {
    const hosts = isPushStep(step) ? new Set([...(step.hosts ?? []), ...Object.keys(step.releases ?? {})]).size : 0;
    this.emit({
      event: 'step-begin',
      step: step.id,
      kind: step.kind,
      title: step.title,
      phase,
      ...(isPushStep(step) && step.cluster ? { cluster: step.cluster } : {}),
      hosts,
    });
  }

  stepProgress(step: AnyStep, message: string): void {
    if (this.progress.allows(step.id)) this.emit({ event: 'step-progress', step: step.id, message });
  }

  stepSucceeded(step: AnyStep, phase: Phase, ms: number, changed?: unknown): void {
    this.emit({ event: 'step-ok', step: step.id, phase, seconds: ms / 1000, ...shareFigures(step, changed) });
  }

  stepFailed(step: AnyStep, phase: Phase, ms: number, error: Error): void {
    this.emit({ event: 'step-fail', step: step.id, phase, seconds: ms / 1000, error: error.message });
  }

  reversalStarted(reason: string, steps: AnyStep[]): void {
    this.emit({ event: 'reversal', reason, steps: steps.map((s) => s.id) });
  }

  notice(message: string): void {
    this.emit({ event: 'notice', message });
  }

  traffic(sample: TrafficSample): void {
    // The sampler looks every few hundred ms; a pipeline gets one a second.
    const now = Date.now();
    if (now - this.lastSample < 1000) return;
    this.lastSample = now;
    // Field by field: the schema is strict, and a sample may carry more than the stream promises.
    const members = sample.members.map((m) => ({
      name: m.name,
      ...(m.cluster ? { cluster: m.cluster } : {}),
      state: m.state,
      sessions: m.sessions,
    }));
    const counters = {
      ...(sample.requests !== undefined ? { requests: sample.requests } : {}),
      ...(sample.http5xx !== undefined ? { http5xx: sample.http5xx } : {}),
    };
    this.emit({ event: 'sample', members, ...counters });
  }

  async finish(): Promise<void> {}
}

/** What a weighing or canary step's result says, in the stream's shape (field by field: the schema is strict). */
function shareFigures(step: AnyStep, changed: unknown): { weights?: Record<string, number>; canary?: ShareFigures } {
  if (!stepIs(step, 'setsWeights') || typeof changed !== 'object' || changed === null) return {};
  const r = changed as { weights?: Record<string, number>; weight?: number; verdict?: string } & Partial<ShareFigures>;
  const counts = (c: Side) => ({
    requests: c.requests,
    http5xx: c.http5xx,
    ...(c.failed !== undefined ? { failed: c.failed } : {}),
    ...(c.latency ? { latency: { ms: c.latency.ms, timed: c.latency.timed, errMs: c.latency.errMs } } : {}),
  });
  const judged =
    stepIs(step, 'judgesShare') &&
    r.weight !== undefined &&
    r.canary &&
    (r.verdict === 'pass' || r.verdict === 'too-few')
      ? {
          canary: {
            weight: r.weight,
            verdict: r.verdict,
            canary: counts(r.canary),
            ...(r.stable ? { stable: counts(r.stable) } : {}),
            ...(Array.isArray(r.queries) ? { queries: r.queries.map(queryFigures) } : {}),
          },
        }
      : {};
  return { ...(r.weights ? { weights: r.weights } : {}), ...judged };
}

interface Side {
  requests: number;
  http5xx: number;
  failed?: number;
  latency?: { ms: number; timed: number; errMs: number };
}

interface ShareFigures {
  weight: number;
  verdict: 'pass' | 'too-few';
  canary: Side;
  stable?: Side;
  queries?: QueryReading[];
}

/** A query's reading, field by field (the schema is strict). */
function queryFigures(q: QueryReading): QueryReading {
  const { query, verdict, value, shown, max, min, series, worst, message } = q;
  const some = { value, shown, max, min, worst, message };
  const present = Object.fromEntries(Object.entries(some).filter(([, v]) => v !== undefined));
  return { query, verdict, series, ...present };
}
