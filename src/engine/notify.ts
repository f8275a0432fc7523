// Notifications: what a run did, told to a team's chat or a webhook in the background. A
// delivery never delays a step or changes an exit code: it is sent and not awaited, retried a
// few times, and at the end of the run waited for at most a short while (FLUSH_MS) before it is
// abandoned. A target that fails is noted once. A URL given as {env: NAME} is read here and never
// written anywhere: plans, journals and messages name the variable, not the value.
import type { Config, NotifyEventName, NotifyTargetConfig } from '../config/config.js';
import { maskedUrl, PLAN_KIND_TRAITS, type PlanKind } from '../model/plan.js';
import { DEFAULT_POST, postJson, type PostOptions, type PostResult } from '../transport/http-post.js';

/** The longest the end of a run waits for notifications still on their way. */
export const FLUSH_MS = 2_000;
export const EVENT_DOC_VERSION = 1;

/** The facts of a run that every hook and notification carries. */
export interface RunFacts {
  app: string;
  environment?: string;
  kind: PlanKind;
  /** The command that ran it: push, apply, rollback, resume, rehearse… */
  command: string;
  tag: string;
  /** The release directory (`v2-3f2a1b0`). */
  release: string;
  /** The plan hash. */
  plan: string;
  rehearsal: boolean;
  run?: string;
  journal?: string;
}

/** What a hook reads on stdin and a webhook receives: one event of a run (or a drift found). */
export interface EventDoc extends Partial<RunFacts> {
  v: typeof EVENT_DOC_VERSION;
  /** A hook's name (after-activate…) or a notification's event (flip…). */
  event: string;
  ts: string;
  /** One line for a person: what happened. */
  summary: string;
  app: string;
  cluster?: string;
  outcome?: string;
  productionChanged?: boolean;
  failedStep?: string;
  error?: string;
  /** For drift: the hosts that differ from their last snapshot. */
  hosts?: string[];
}

/** The body a target of this format is sent. */
export function notificationBody(format: NotifyTargetConfig['format'], doc: EventDoc): unknown {
  if (format === 'slack') return { text: doc.summary };
  // Teams' incoming webhooks read a MessageCard; its text is all a Workflows webhook needs too.
  if (format === 'teams')
    return {
      '@type': 'MessageCard',
      '@context': 'https://schema.org/extensions',
      summary: doc.summary,
      title: `baton: ${doc.app}${doc.environment ? ` (${doc.environment})` : ''}`,
      text: doc.summary,
    };
  return doc;
}

interface Target {
  /** How the target is named in notes: `env SLACK_URL (slack)`, never the URL itself. */
  name: string;
  url?: string;
  format: NotifyTargetConfig['format'];
  events: readonly NotifyEventName[];
  failed: boolean;
}

export interface NotifierOptions {
  /** Where `{env: NAME}` URLs are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** A line for the journal and the person running baton: said once per target that fails. */
  problem: (line: string) => void;
  post?: PostOptions;
}

export class Notifier {
  private readonly targets: Target[];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abandon = new AbortController();

  constructor(
    targets: readonly NotifyTargetConfig[],
    private readonly opts: NotifierOptions,
  ) {
    const env = opts.env ?? process.env;
    this.targets = targets.map((t) => {
      const name = `${typeof t.url === 'string' ? maskedUrl(t.url) : `env ${t.url.env}`} (${t.format})`;
      const url = typeof t.url === 'string' ? t.url : env[t.url.env] || undefined;
      return { name, format: t.format, events: t.events, failed: false, ...(url ? { url } : {}) };
    });
    for (const t of this.targets)
      if (!t.url) this.fail(t, 'its URL is not set (export the variable it names); nothing is sent to it');
  }

  /** Whether any target wants this event. */
  wants(event: NotifyEventName): boolean {
    return this.targets.some((t) => t.url && t.events.includes(event));
  }

  /** Send in the background to every target that wants the event; returns at once. */
  send(event: NotifyEventName, doc: EventDoc): void {
    for (const t of this.targets) {
      if (!t.url || !t.events.includes(event) || this.abandon.signal.aborted) continue;
      const delivery = postJson(t.url, notificationBody(t.format, doc), {
        ...(this.opts.post ?? DEFAULT_POST),
        signal: this.abandon.signal,
      }).then((r) => this.settled(t, event, r));
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    }
  }

  /** Wait for deliveries on their way, at most `ms`; then abandon the rest (noted as not delivered). */
  async flush(ms = FLUSH_MS): Promise<void> {
    if (this.inFlight.size) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
      await Promise.race([Promise.all([...this.inFlight]), deadline]);
      clearTimeout(timer);
    }
    this.abandon.abort();
    await Promise.all([...this.inFlight]);
  }

  private settled(t: Target, event: NotifyEventName, r: PostResult): void {
    if (r.ok) return;
    const tries = r.attempts > 1 ? ` after ${r.attempts} attempts` : '';
    this.fail(t, `the ${event} notification was not delivered${tries}: ${r.error}`);
  }

  private fail(t: Target, why: string): void {
    if (t.failed) return;
    t.failed = true;
    this.opts.problem(`notification to ${t.name}: ${why} (later failures of this target are not noted)`);
  }
}

/** The notifier of a configuration, or none when it has no notify: targets. */
export function notifierFor(config: Pick<Config, 'notify'>, opts: NotifierOptions): Notifier | undefined {
  return config.notify?.length ? new Notifier(config.notify, opts) : undefined;
}

/** `shop (staging): push of v2`: a run as a summary line begins. */
export function runTitle(f: Pick<RunFacts, 'app' | 'environment' | 'kind' | 'tag' | 'rehearsal'>): string {
  const what = PLAN_KIND_TRAITS[f.kind].runOf;
  return (
    `${f.app}${f.environment ? ` (${f.environment})` : ''}:` +
    ` ${f.rehearsal ? `rehearsal of the ${f.kind} of` : what} ${f.tag}`
  );
}

/**
 * `baton drift` found hosts that differ from their last snapshot: told to the targets that want drift, waited for at
 * most FLUSH_MS.
 */
export async function notifyDrift(
  config: Pick<Config, 'app' | 'environment' | 'notify'>,
  hosts: string[],
  opts: NotifierOptions,
): Promise<void> {
  const targets = config.notify ?? [];
  if (!hosts.length || !targets.some((t) => t.events.includes('drift'))) return;
  const notifier = new Notifier(targets, opts);
  const app = `${config.app.name}${config.environment ? ` (${config.environment})` : ''}`;
  notifier.send('drift', {
    v: EVENT_DOC_VERSION,
    event: 'drift',
    ts: new Date().toISOString(),
    summary:
      `${app}: ${hosts.length} host${hosts.length === 1 ? '' : 's'} ` +
      `differ from the last snapshot: ${hosts.join(', ')}`,
    app: config.app.name,
    ...(config.environment !== undefined ? { environment: config.environment } : {}),
    hosts,
  });
  await notifier.flush();
}
