// Notifications against a real HTTP receiver on 127.0.0.1: every event of a run arrives in the
// format its target asked for, a receiver that does not answer never holds the run back for
// more than the flush at its end, a 500 is retried and its failure noted once, and a URL taken
// from the environment is never written to the plan or the journal.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/config.js';
import type { StepRunner } from '../../src/engine/executor.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import { FLUSH_MS, Notifier, notificationBody, notifyDrift, type EventDoc } from '../../src/engine/notify.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import { runHooksFor } from '../../src/engine/run-hooks.js';
import { runPlan } from '../../src/engine/run-plan.js';
import { planHooks } from '../../src/model/plan.js';
import { TWO_CLUSTER_STEPS } from '../helpers/loose-steps.js';

const MINIMAL = readFileSync(join(import.meta.dirname, '../fixtures/config/valid/minimal.yml'), 'utf8');
const PLAN = { release: { tag: 'v2', commit: 'c'.repeat(40), dir: 'v2-cccccccc' }, hash: 'sha256:abc' };

interface Received {
  path: string;
  body: Record<string, unknown>;
  at: number;
}

/** A receiver on loopback: records what it got and answers as `answer` says (a delay, a status). */
async function receiver(
  answer: (req: IncomingMessage) => { status: number; delayMs?: number } = () => ({ status: 200 }),
) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(text), at: Date.now() });
      const { status, delayMs } = answer(req);
      const reply = () => res.writeHead(status).end('ok');
      if (delayMs) setTimeout(reply, delayMs).unref();
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const STEPS = TWO_CLUSTER_STEPS;

function configWith(notifyYaml: string): Config {
  const dir = mkdtempSync(join(tmpdir(), 'baton-notify-'));
  const { config, issues } = parseConfig(`${MINIMAL}${notifyYaml}`, join(dir, 'baton.yml'));
  expect(issues).toEqual([]);
  return config as Config;
}

async function push(config: Config, opts: { fail?: string; env?: NodeJS.ProcessEnv } = {}) {
  const reporter = new SilentReporter();
  const lock = { acquire: async () => undefined, release: async () => true } as unknown as ReleaseLock;
  const stepTimes: number[] = [];
  const stepRunner = (): StepRunner => async (s) => {
    stepTimes.push(Date.now());
    if (s.id === opts.fail) throw new Error(`${s.id} broke`);
    return undefined;
  };
  const started = Date.now();
  const outcome = await runPlan(
    {
      runsOf: config.dir,
      run: 'r1',
      reporter,
      lock: { lock, leaseMs: 60_000 },
      stepRunner,
      hooks: runHooksFor(config, PLAN, 'push', opts.env ? { env: opts.env } : {}),
    },
    { command: 'push', hash: PLAN.hash, tag: 'v2', by: 'ci', steps: STEPS },
    { forward: {} },
  );
  return { outcome, reporter, ms: Date.now() - started, stepTimes };
}

describe('notifications of a run', () => {
  it('every event reaches each target in its format: webhook (JSON), slack ({text}), teams (MessageCard)', async () => {
    const r = await receiver();
    const config = configWith(
      `notify:\n  - { url: ${r.url}/hook, format: webhook }\n` +
        `  - { url: ${r.url}/slack, format: slack, events: [flip, succeeded] }\n` +
        '  - { url: { env: TEAMS_URL }, format: teams, events: [succeeded] }\n',
    );
    const { outcome } = await push(config, { env: { TEAMS_URL: `${r.url}/teams` } });
    expect(outcome.outcome).toBe('succeeded');
    const byPath = (p: string) => r.got.filter((g) => g.path === p).map((g) => g.body);
    expect(byPath('/hook').map((b) => b.event)).toEqual(['begin', 'flip', 'succeeded']);
    expect(byPath('/hook')[1]).toMatchObject({
      v: 1,
      event: 'flip',
      app: 'shop',
      tag: 'v2',
      release: 'v2-cccccccc',
      plan: 'sha256:abc',
      run: 'r1',
      cluster: 'a',
    });
    expect(byPath('/slack')).toEqual([
      { text: 'shop: push of v2: cluster a is back in the public pool' },
      { text: 'shop: push of v2 succeeded' },
    ]);
    expect(byPath('/teams')).toEqual([
      {
        '@type': 'MessageCard',
        '@context': 'https://schema.org/extensions',
        summary: 'shop: push of v2 succeeded',
        title: 'baton: shop',
        text: 'shop: push of v2 succeeded',
      },
    ]);
  });

  it('a reversed push sends reversed; a URL from the environment is in neither the plan nor the journal', async () => {
    const r = await receiver();
    const config = configWith('notify:\n  - { url: { env: HOOK_URL }, events: [reversed, needs-attention] }\n');
    const secretUrl = `${r.url}/services/T000/B000/s3cr3t-path`;
    const { outcome } = await push(config, { fail: 'smoke-b', env: { HOOK_URL: secretUrl } });
    expect(outcome.outcome).toBe('reversed');
    expect(r.got.map((g) => [g.path, g.body.event, g.body.failedStep])).toEqual([
      ['/services/T000/B000/s3cr3t-path', 'reversed', 'smoke-b'],
    ]);
    expect(readFileSync(outcome.journal, 'utf8')).not.toContain('s3cr3t');
    expect(planHooks(config)).toEqual({
      notify: [{ to: 'env HOOK_URL', format: 'webhook', events: ['reversed', 'needs-attention'] }],
    });
    expect(planHooks(configWith(`notify:\n  - { url: "${secretUrl}" }\n`)).notify?.[0]?.to).toBe(`${r.url}/…`);
  });

  it('a receiver that does not answer delays no step; the run waits for it at most FLUSH_MS at its end', async () => {
    const slow = await receiver(() => ({ status: 200, delayMs: 30_000 }));
    const config = configWith(`notify:\n  - { url: ${slow.url}/slow }\n`);
    const { outcome, ms, stepTimes, reporter } = await push(config);
    expect(outcome.outcome).toBe('succeeded');
    // The steps ran back to back while begin and flip were unanswered.
    expect(stepTimes.at(-1)! - stepTimes[0]!).toBeLessThan(500);
    expect(ms).toBeLessThan(FLUSH_MS + 1_500);
    expect(slow.got.map((g) => g.body.event)).toEqual(['begin', 'flip', 'succeeded']);
    // Abandoned at the flush: noted once, in the journal and to the person running it.
    const notes = readFileSync(outcome.journal, 'utf8')
      .split('\n')
      .filter((l) => l.includes('notification to'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('was not delivered');
    expect(reporter.events.filter((e) => e.startsWith('notice:notification to'))).toHaveLength(1);
  });

  it('a missing {env: NAME} URL is noted once and changes nothing else', async () => {
    const config = configWith('notify:\n  - { url: { env: NOT_SET_ANYWHERE }, format: slack }\n');
    const { outcome, reporter } = await push(config, { env: {} });
    expect(outcome.outcome).toBe('succeeded');
    expect(reporter.events.filter((e) => e.startsWith('notice:'))).toEqual([
      'notice:notification to env NOT_SET_ANYWHERE (slack): its URL is not set (export the variable it names); ' +
        'nothing is sent to it (later failures of this target are not noted)',
    ]);
  });
});

describe('the notifier', () => {
  const doc = (event: string): EventDoc => ({ v: 1, event, ts: new Date().toISOString(), summary: event, app: 'shop' });

  it('retries a 500 and notes the failure once, however many events fail', async () => {
    const r = await receiver(() => ({ status: 500 }));
    const problems: string[] = [];
    const n = new Notifier([{ url: `${r.url}/x`, format: 'webhook', events: ['begin', 'flip'] }], {
      problem: (l) => problems.push(l),
      post: { attempts: 3, attemptMs: 1_000, pauseMs: 20 },
    });
    n.send('begin', doc('begin'));
    n.send('flip', doc('flip'));
    await n.flush(5_000);
    expect(r.got).toHaveLength(6);
    expect(problems).toEqual([
      `notification to ${r.url}/… (webhook): the begin notification was not delivered after 3 attempts: HTTP 500 ` +
        '(later failures of this target are not noted)',
    ]);
  });

  it('a 500 that passes is delivered on a later attempt; a 404 is not retried', async () => {
    let calls = 0;
    const r = await receiver((req) => (req.url === '/gone' ? { status: 404 } : { status: ++calls === 1 ? 503 : 200 }));
    const problems: string[] = [];
    const post = { attempts: 3, attemptMs: 1_000, pauseMs: 20 };
    const ok = new Notifier([{ url: `${r.url}/flaky`, format: 'slack', events: ['begin'] }], {
      problem: (l) => problems.push(l),
      post,
    });
    ok.send('begin', doc('begin'));
    await ok.flush();
    expect(problems).toEqual([]);
    const gone = new Notifier([{ url: `${r.url}/gone`, format: 'slack', events: ['begin'] }], {
      problem: (l) => problems.push(l),
      post,
    });
    gone.send('begin', doc('begin'));
    await gone.flush();
    expect(r.got.map((g) => g.path)).toEqual(['/flaky', '/flaky', '/gone']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('HTTP 404');
  });

  it('a receiver that refuses the connection is named without its URL', async () => {
    // A port that was just free: nothing listens there now.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const problems: string[] = [];
    const n = new Notifier([{ url: `http://127.0.0.1:${port}/secret-token`, format: 'webhook', events: ['begin'] }], {
      problem: (l) => problems.push(l),
      post: { attempts: 2, attemptMs: 1_000, pauseMs: 10 },
    });
    n.send('begin', doc('begin'));
    await n.flush();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('ECONNREFUSED');
    expect(problems[0]).not.toContain('secret-token');
  });

  it('baton drift tells the targets that want drift which hosts differ', async () => {
    const r = await receiver();
    const config = configWith(
      `notify:\n  - { url: ${r.url}/all, format: slack }\n  - { url: ${r.url}/runs, events: [succeeded] }\n`,
    );
    await notifyDrift(config, ['web-1', 'web-2'], { problem: () => undefined });
    await notifyDrift(config, [], { problem: () => undefined });
    expect(r.got).toEqual([
      {
        path: '/all',
        body: { text: 'shop: 2 hosts differ from the last snapshot: web-1, web-2' },
        at: expect.any(Number),
      },
    ]);
    expect(notificationBody('webhook', doc('x'))).toEqual(doc('x'));
  });
});
