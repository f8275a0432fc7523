// Notifications: what a run did, told to a team's chat or a webhook in the background. A
// delivery never delays a step or changes an exit code: it is sent and not awaited, retried a
// few times, and when the run ends, what is still on its way after a short while (HAND_OVER_AFTER_MS)
// is handed over to a process of its own that finishes it (src/transport/background-post.ts), so a
// receiver slow to answer never holds the command back. A target that fails is noted once. A URL given as
// {env: NAME} is read here and never written anywhere: plans, journals and messages name the variable, not
// the value.
import type { Config, NotifyEventName, NotifyTargetConfig } from '../config/config.js';
import { maskedUrl, PLAN_KIND_TRAITS, type PlanKind } from '../model/plan.js';
import { postInBackground, type BackgroundPosts, type HandedOverPost } from '../transport/background-post.js';
import { DEFAULT_POST, postBudgetMs, postJson, type PostOptions, type PostResult } from '../transport/http-post.js';

/**
 * How long the end of a run waits for notifications still on their way before it hands them over: long enough for a
 * chat service that answers at once, short enough to be lost in a push's noise.
 */
export const HAND_OVER_AFTER_MS = 200;
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

/** One notification on its way to one target. */
interface Delivery {
  event: NotifyEventName;
  url: string;
  body: unknown;
  /** Given up at this time (epoch ms), here or in the background: its attempts and pauses, from when it was sent. */
  deadline: number;
  /** Attempts that failed so far. */
  failed: number;
  /** Handed over to the background: what becomes of it here is no longer news. */
  handedOver: boolean;
  done: Promise<void>;
}

export interface NotifierOptions {
  /** Where `{env: NAME}` URLs are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** A line for the journal and the person running baton: said once per target that fails. */
  problem: (line: string) => void;
  /** A line for the journal only: notifications handed over to the background. */
  note?: (line: string) => void;
  post?: PostOptions;
  /** Start the background process (tests bring one that cannot start). */
  inBackground?: (posts: readonly HandedOverPost[]) => BackgroundPosts;
}

export class Notifier {
  private readonly targets: Target[];
  private readonly inFlight = new Set<Delivery>();
  private readonly abandon = new AbortController();
  /** While deliveries are on their way, an exit nothing awaited (a second Ctrl-C) still hands them over. */
  private readonly onExit = () => void this.handOverNow();

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
    const post = this.opts.post ?? DEFAULT_POST;
    for (const t of this.targets) {
      if (!t.url || !t.events.includes(event) || this.abandon.signal.aborted) continue;
      const body = notificationBody(t.format, doc);
      const d: Delivery = {
        event,
        url: t.url,
        body,
        deadline: Date.now() + postBudgetMs(post),
        failed: 0,
        handedOver: false,
        done: Promise.resolve(),
      };
      d.done = postJson(t.url, body, {
        ...post,
        signal: this.abandon.signal,
        onFailedAttempt: (attempt) => (d.failed = attempt),
      }).then((r) => {
        this.inFlight.delete(d);
        if (!this.inFlight.size) process.off('exit', this.onExit);
        if (!d.handedOver) this.settled(t, event, r);
      });
      if (!this.inFlight.size) process.on('exit', this.onExit);
      this.inFlight.add(d);
    }
  }

  /**
   * The end of the run: wait for deliveries on their way at most `ms`, then hand the rest over to a process of their
   * own (noted) and stop sending. Returns once they are handed over, never waiting for a receiver.
   */
  async handOver(ms = HAND_OVER_AFTER_MS): Promise<void> {
    if (this.inFlight.size && ms > 0) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
      await Promise.race([Promise.all([...this.inFlight].map((d) => d.done)), waited]);
      clearTimeout(timer);
    }
    await this.handOverNow()?.written;
  }

  /** Hand what is on its way over to the background at once (synchronously, so an exit can); stop sending. */
  private handOverNow(): BackgroundPosts | undefined {
    process.off('exit', this.onExit);
    const left = [...this.inFlight].filter((d) => !d.handedOver);
    for (const d of left) d.handedOver = true;
    this.abandon.abort();
    if (!left.length) return undefined;
    const what = `${left.length} notification${left.length === 1 ? '' : 's'} (${left.map((d) => d.event).join(', ')})`;
    try {
      const posts = left.map((d): HandedOverPost => ({
        url: d.url,
        body: d.body,
        ...this.schedule(),
        failedBefore: d.failed,
        deadline: d.deadline,
      }));
      const started = (this.opts.inBackground ?? postInBackground)(posts);
      const until = new Date(Math.max(...left.map((d) => d.deadline))).toISOString();
      this.opts.note?.(
        `${what} still on the way when baton ended: handed over to process ${started.pid}, which goes on trying ` +
          `until ${until} at the latest; whether they arrive is not recorded`,
      );
      return started;
    } catch (err) {
      this.opts.problem(
        `${what} not delivered: baton ended before they were, and they could not be handed over ` +
          `(${(err as Error).message})`,
      );
      return undefined;
    }
  }

  private schedule(): Pick<HandedOverPost, 'attempts' | 'attemptMs' | 'pauseMs'> {
    const { attempts, attemptMs, pauseMs } = this.opts.post ?? DEFAULT_POST;
    return { attempts, attemptMs, pauseMs };
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
 * most HAND_OVER_AFTER_MS, then handed over.
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
      `${app}: ${hosts.length === 1 ? '1 host differs' : `${hosts.length} hosts differ`} ` +
      `from the last snapshot: ${hosts.join(', ')}`,
    app: config.app.name,
    ...(config.environment !== undefined ? { environment: config.environment } : {}),
    hosts,
  });
  await notifier.handOver();
}
