// Hooks and notifications, listening to a run: the runner hands this listener every event its
// reporter gets, awaits it before each forward step and once the outcome is known, and that is
// all it knows of hooks. In order: before-lock (before the step that takes the lock; a failure
// refuses the run, exit 3, nothing changed), after-activate (each cluster's smoke check passed),
// after-flip (the first cluster back in the public pool), then one of after-success,
// after-reversal or needs-attention. An after-* hook that fails is journaled and reported; the
// run goes on as it was. Notifications (begin, flip, succeeded, reversed, needs-attention) go
// out in the background beside them.
import type { Config, HookConfig, HookName, NotifyEventName } from '../config/config.js';
import { PlanRefusedError } from '../errors.js';
import { PLAN_KIND_TRAITS, planKindOf, type Plan } from '../model/plan.js';
import type { AnyStep } from '../model/steps.js';
import { stepIs } from '../model/step-kinds.js';
import { describeHookOutcome, hookSucceeded, runHookProcess, type HookOutcome } from '../transport/hook-process.js';
import type { ExecutionResult } from './executor.js';
import type { Journal } from './journal.js';
import { EVENT_DOC_VERSION, notifierFor, runTitle, type EventDoc, type Notifier, type RunFacts } from './notify.js';
import type { Phase, Reporter } from './reporter.js';
import type { PostOptions } from '../transport/http-post.js';

/** The run a listener listens to, once it is open. */
export interface RunHandle {
  id: string;
  journal: Journal;
  /** A line the person running baton must see (a hook that failed). */
  notice(line: string): void;
}

export interface RunListener {
  /** Told every event the run's reporter is told. */
  events: Pick<Reporter, 'stepSucceeded' | 'reversalStarted'>;
  /** Awaited before each forward step: a rejection refuses the step (and the run, when nothing ran yet). */
  beforeStep(step: AnyStep): Promise<void>;
  /** Awaited once the outcome is known, before the run's end is journaled. */
  ending(result: Pick<ExecutionResult, 'outcome' | 'productionChanged' | 'failedStep' | 'error'>): Promise<void>;
  /** Awaited when the run is over, however it ended: notifications still on their way are handed over. */
  close(): Promise<void>;
}

export type RunHooks = (run: RunHandle) => RunListener;

/** Variables a hook is given; inherited ones of the same names are removed first. */
const FACT_VARIABLES = [
  'BATON_APP',
  'BATON_ENV',
  'BATON_KIND',
  'BATON_COMMAND',
  'BATON_TAG',
  'BATON_RELEASE',
  'BATON_PLAN_HASH',
  'BATON_RUN',
  'BATON_JOURNAL',
  'BATON_EVENT',
  'BATON_CLUSTER',
  'BATON_OUTCOME',
  'BATON_REHEARSAL',
] as const;

export interface RunHooksOptions {
  rehearsal?: boolean;
  /** The environment hooks inherit and `{env: NAME}` URLs are read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** How notifications are posted (default: DEFAULT_POST). */
  post?: PostOptions;
}

/** The listener of a run of this plan, or none when baton.yml has neither hooks nor notify:. */
export function runHooksFor(
  config: Pick<Config, 'app' | 'environment' | 'dir' | 'hooks' | 'notify'>,
  plan: Pick<Plan, 'kind' | 'release' | 'hash'> & Partial<Pick<Plan, 'forward'>>,
  command: string,
  opts: RunHooksOptions = {},
): RunHooks | undefined {
  if (!Object.keys(config.hooks ?? {}).length && !config.notify?.length) return undefined;
  const facts: RunFacts = {
    app: config.app.name,
    ...(config.environment !== undefined ? { environment: config.environment } : {}),
    kind: planKindOf(plan),
    command,
    tag: plan.release.tag,
    release: plan.release.dir,
    plan: plan.hash,
    rehearsal: Boolean(opts.rehearsal),
  };
  // The flip is the plan's first return to the pool: a resumed run (push --continue) that returns the other cluster has
  // none.
  const flip = plan.forward?.find((s) => stepIs(s, 'returnsToPool'))?.id;
  return (run) =>
    new HookListener(config, { ...facts, run: run.id, journal: run.journal.file }, run, opts.env, flip, opts.post);
}

class HookListener implements RunListener {
  private pending: Promise<void> = Promise.resolve();
  private lockChecked = false;
  private began = false;
  private flipped = false;
  private reversed = false;
  private readonly notifier: Notifier | undefined;
  readonly events: RunListener['events'];

  constructor(
    private readonly config: Pick<Config, 'dir' | 'hooks' | 'notify'>,
    private readonly facts: RunFacts,
    private readonly run: RunHandle,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly flipStep?: string,
    post?: PostOptions,
  ) {
    this.notifier = notifierFor(config, {
      env,
      problem: (line) => {
        run.journal.append({ event: 'note', message: line });
        run.notice(line);
      },
      note: (line) => run.journal.append({ event: 'note', message: line }),
      ...(post ? { post } : {}),
    });
    this.events = {
      stepSucceeded: (step, phase) => this.stepSucceeded(step, phase),
      reversalStarted: () => void (this.reversed = true),
    };
  }

  async beforeStep(step: AnyStep): Promise<void> {
    await this.pending;
    if (this.lockChecked || !stepIs(step, 'takesLock')) return;
    this.lockChecked = true;
    // A freeze must never stand in the way back: a rollback does not ask.
    if (PLAN_KIND_TRAITS[this.facts.kind].wayBack) return;
    const hook = this.config.hooks?.['before-lock'];
    if (!hook) return;
    const r = await this.runHook('before-lock', hook, this.doc('before-lock', 'before the lock is taken'));
    if (hookSucceeded(r)) return;
    const out = r.output.slice(-10);
    throw new PlanRefusedError(
      'the before-lock hook refused the run ' +
        `(${describeHookOutcome(r, hook.timeoutMs)})${out.length ? `:\n  ${out.join('\n  ')}` : ''}`,
      'nothing was changed; the run may go ahead once the hook lets it',
      out,
    );
  }

  async ending(result: Parameters<RunListener['ending']>[0]): Promise<void> {
    await this.pending;
    const end = {
      outcome: result.outcome,
      productionChanged: result.productionChanged,
      ...(result.failedStep ? { failedStep: result.failedStep } : {}),
      ...(result.error ? { error: result.error.message } : {}),
    };
    const title = runTitle(this.facts);
    const failure = result.failedStep ? ` (${result.failedStep} failed: ${firstLine(result.error?.message)})` : '';
    if (result.outcome === 'succeeded') {
      this.notify('succeeded', this.doc('succeeded', `${title} succeeded`, end));
      await this.after('after-success', this.doc('after-success', `${title} succeeded`, end));
    } else if (result.outcome === 'reversed' && this.reversed) {
      const summary = `${title} was reversed${failure}; production is back where it started`;
      this.notify('reversed', this.doc('reversed', summary, end));
      await this.after('after-reversal', this.doc('after-reversal', summary, end));
    } else if (result.outcome === 'needs-attention') {
      const summary = `${title} needs attention${failure}: its reversal did not finish`;
      this.notify('needs-attention', this.doc('needs-attention', summary, end));
      await this.after('needs-attention', this.doc('needs-attention', summary, end));
    }
    await this.notifier?.handOver();
  }

  async close(): Promise<void> {
    await this.pending;
    await this.notifier?.handOver(0);
  }

  private stepSucceeded(step: AnyStep, phase: Phase): void {
    if (phase !== 'forward') return;
    const title = runTitle(this.facts);
    if (!this.began) {
      this.began = true;
      this.notify('begin', this.doc('begin', `${title} began (${this.facts.command}, run ${this.facts.run})`));
    }
    // A DNS step has no cluster: only a push's steps name one.
    const onCluster = 'cluster' in step && typeof step.cluster === 'string' ? step.cluster : undefined;
    if (stepIs(step, 'smokeChecks') && onCluster) {
      const summary = `${title}: cluster ${onCluster} is activated and passed its smoke checks`;
      this.queue('after-activate', this.doc('after-activate', summary, { cluster: onCluster }));
    }
    if (stepIs(step, 'returnsToPool') && !this.flipped && (this.flipStep === undefined || step.id === this.flipStep)) {
      this.flipped = true;
      const cluster = onCluster ? { cluster: onCluster } : {};
      const summary = `${title}: ${onCluster ? `cluster ${onCluster}` : 'the new release'} is back in the public pool`;
      this.notify('flip', this.doc('flip', summary, cluster));
      this.queue('after-flip', this.doc('after-flip', summary, cluster));
    }
  }

  /** Run an after-* hook once those before it are done; the next step waits for it. */
  private queue(name: HookName, doc: EventDoc): void {
    this.pending = this.pending.then(() => this.after(name, doc));
  }

  private async after(name: HookName, doc: EventDoc): Promise<void> {
    const hook = this.config.hooks?.[name];
    if (!hook) return;
    const r = await this.runHook(name, hook, doc);
    if (hookSucceeded(r)) return;
    const last = r.output.at(-1);
    const line =
      `hook ${name} failed (${describeHookOutcome(r, hook.timeoutMs)})${last ? `: ${last}` : ''}; ` +
      'the run goes on as it was';
    this.run.journal.append({ event: 'note', message: line });
    this.run.notice(line);
  }

  /** Run a hook and journal what it did and said; never throws. */
  private async runHook(name: HookName, hook: HookConfig, doc: EventDoc): Promise<HookOutcome> {
    const { journal } = this.run;
    const where = doc.cluster ? ` (cluster ${doc.cluster})` : '';
    let r: HookOutcome;
    try {
      r = await runHookProcess({
        run: hook.run,
        cwd: this.config.dir,
        env: this.hookEnv(name, doc),
        input: `${JSON.stringify(doc)}\n`,
        timeoutMs: hook.timeoutMs,
      });
    } catch (err) {
      r = { exitCode: null, timedOut: false, startError: (err as Error).message, ms: 0, output: [], droppedLines: 0 };
    }
    if (r.droppedLines) journal.append({ event: 'note', message: `hook ${name}| (${r.droppedLines} lines not kept)` });
    for (const line of r.output) journal.append({ event: 'note', message: `hook ${name}| ${line}` });
    journal.append({
      event: 'note',
      message: `hook ${name}${where}: ${describeHookOutcome(r, hook.timeoutMs)} in ${(r.ms / 1000).toFixed(2)} s`,
    });
    return r;
  }

  private hookEnv(name: HookName, doc: EventDoc): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.env))
      if (v !== undefined && !(FACT_VARIABLES as readonly string[]).includes(k)) env[k] = v;
    const f = this.facts;
    const set: Record<(typeof FACT_VARIABLES)[number], string | undefined> = {
      BATON_APP: f.app,
      BATON_ENV: f.environment,
      BATON_KIND: f.kind,
      BATON_COMMAND: f.command,
      BATON_TAG: f.tag,
      BATON_RELEASE: f.release,
      BATON_PLAN_HASH: f.plan,
      BATON_RUN: f.run,
      BATON_JOURNAL: f.journal,
      BATON_EVENT: name,
      BATON_CLUSTER: doc.cluster,
      BATON_OUTCOME: doc.outcome,
      BATON_REHEARSAL: f.rehearsal ? '1' : undefined,
    };
    for (const [k, v] of Object.entries(set)) if (v !== undefined) env[k] = v;
    return env;
  }

  private notify(event: NotifyEventName, doc: EventDoc): void {
    this.notifier?.send(event, doc);
  }

  private doc(event: string, summary: string, more: Partial<EventDoc> = {}): EventDoc {
    return { v: EVENT_DOC_VERSION, event, ts: new Date().toISOString(), summary, ...this.facts, ...more };
  }
}

/** A summary is one line: the first of a message (a host-by-host list follows in the event's `error`), cut short. */
function firstLine(message = 'unknown'): string {
  const line = (message.split('\n')[0] ?? '').replace(/:$/, '');
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
