// Notifications against a real HTTP receiver on 127.0.0.1: every event of a run arrives in the
// format its target asked for, a receiver that does not answer never holds the run (or the process
// running it) back: what is still on its way at the end is handed over to a background process that
// delivers it after the command returned and gives up by its deadline, even when a second SIGTERM
// ends the process. A 500 is retried and its failure noted once, and a URL taken from the environment
// is never written to the plan or the journal. The background process is the built one (dist/).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/config.js';
import type { StepRunner } from '../../src/engine/executor.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import { HAND_OVER_AFTER_MS, Notifier, notificationBody, notifyDrift, type EventDoc } from '../../src/engine/notify.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import { runHooksFor } from '../../src/engine/run-hooks.js';
import { runPlan } from '../../src/engine/run-plan.js';
import { planHooks } from '../../src/model/plan.js';
import type { PostOptions } from '../../src/transport/http-post.js';
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
  answer: (req: IncomingMessage, nth: number) => { status: number; delayMs?: number } = () => ({ status: 200 }),
) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(text), at: Date.now() });
      const { status, delayMs } = answer(req, got.length);
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

async function push(
  config: Config,
  opts: { fail?: string | string[]; env?: NodeJS.ProcessEnv; post?: PostOptions } = {},
) {
  const reporter = new SilentReporter();
  const lock = { acquire: async () => undefined, release: async () => true } as unknown as ReleaseLock;
  const stepTimes: number[] = [];
  const stepRunner = (): StepRunner => async (s) => {
    stepTimes.push(Date.now());
    if ([opts.fail].flat().includes(s.id)) throw new Error(`${s.id} broke`);
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
      hooks: runHooksFor(config, PLAN, 'push', {
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.post ? { post: opts.post } : {}),
      }),
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
    // A receiver that answers at once has everything before the run ends: nothing is handed over.
    expect(readFileSync(outcome.journal, 'utf8')).not.toContain('handed over');
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

  it('a push whose reversal fails too sends needs-attention, with what failed', async () => {
    const r = await receiver();
    const config = configWith(
      `notify:\n  - { url: ${r.url}/hook, events: [succeeded, reversed, needs-attention] }\n` +
        `  - { url: ${r.url}/slack, format: slack, events: [needs-attention] }\n`,
    );
    const { outcome } = await push(config, { fail: ['smoke-b', 'undo-ready-a'] });
    expect(outcome.outcome).toBe('needs-attention');
    const byPath = (p: string) => r.got.filter((g) => g.path === p).map((g) => g.body);
    expect(byPath('/hook')).toEqual([
      expect.objectContaining({
        event: 'needs-attention',
        outcome: 'needs-attention',
        failedStep: 'smoke-b',
        run: 'r1',
      }),
    ]);
    expect(byPath('/slack')).toEqual([
      { text: 'shop: push of v2 needs attention (smoke-b failed: smoke-b broke): its reversal did not finish' },
    ]);
  });

  it('a receiver that does not answer delays no step; the run hands what is on its way over at its end', async () => {
    const slow = await receiver(() => ({ status: 200, delayMs: 30_000 }));
    const config = configWith(`notify:\n  - { url: ${slow.url}/slow }\n`);
    const post = { attempts: 2, attemptMs: 500, pauseMs: 50 };
    const { outcome, ms, stepTimes, reporter } = await push(config, { post });
    expect(outcome.outcome).toBe('succeeded');
    // The steps ran back to back while begin and flip were unanswered.
    expect(stepTimes.at(-1)! - stepTimes[0]!).toBeLessThan(500);
    expect(ms).toBeLessThan(HAND_OVER_AFTER_MS + 1_000);
    expect(slow.got.map((g) => g.body.event).slice(0, 3)).toEqual(['begin', 'flip', 'succeeded']);
    // Handed over, not failed: said once in the journal, before the run's end, and nothing told as a problem.
    const journal = readFileSync(outcome.journal, 'utf8').trim().split('\n');
    const notes = journal.filter((l) => l.includes('notification'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(
      /3 notifications \(begin, flip, succeeded\) still on the way when baton ended: handed over to process \d+/,
    );
    expect(journal.at(-1)).toContain('"event":"run-end"');
    expect(reporter.events.filter((e) => e.startsWith('notice:'))).toEqual([]);
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
    await n.handOver(5_000);
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
    await ok.handOver();
    expect(problems).toEqual([]);
    const gone = new Notifier([{ url: `${r.url}/gone`, format: 'slack', events: ['begin'] }], {
      problem: (l) => problems.push(l),
      post,
    });
    gone.send('begin', doc('begin'));
    await gone.handOver();
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
    await n.handOver();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('ECONNREFUSED');
    expect(problems[0]).not.toContain('secret-token');
  });

  it('what could not be handed over is noted as not delivered', async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 60_000 }));
    const problems: string[] = [];
    const notes: string[] = [];
    const n = new Notifier([{ url: `${r.url}/x`, format: 'webhook', events: ['begin', 'flip'] }], {
      problem: (l) => problems.push(l),
      note: (l) => notes.push(l),
      inBackground: () => {
        throw new Error('spawn node ENOENT');
      },
    });
    n.send('begin', doc('begin'));
    n.send('flip', doc('flip'));
    await n.handOver(50);
    expect(notes).toEqual([]);
    expect(problems).toEqual([
      '2 notifications (begin, flip) not delivered: baton ended before they were, and they could not be handed ' +
        'over (spawn node ENOENT)',
    ]);
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
    const x = doc('x');
    expect(notificationBody('webhook', x)).toEqual(x);
  });
});

describe('the hand-over to a background process', { timeout: 30_000 }, () => {
  const ROOT = join(import.meta.dirname, '../..');
  const doc = { v: 1, event: 'begin', ts: '2026-12-07T00:00:00.000Z', summary: 'shop: push of v2 began', app: 'shop' };

  /** A process of the built modules that runs `first`, sends one begin notification to `url`, then `then`. */
  function sender(url: string, post: PostOptions, then: string, first = '') {
    const source = `
      import { Notifier } from './dist/src/engine/notify.js';
      ${first}
      const n = new Notifier([{ url: ${JSON.stringify(url)}, format: 'webhook', events: ['begin'] }], {
        problem: (l) => console.log('problem: ' + l),
        note: (l) => console.log('note: ' + l),
        post: ${JSON.stringify(post)},
      });
      console.log('sent ' + Date.now());
      n.send('begin', ${JSON.stringify(doc)});
      ${then}`;
    const child = execa('node', ['--input-type=module', '-e', source], { cwd: ROOT, reject: false });
    let exitedAt = 0;
    child.on('exit', () => (exitedAt = Date.now()));
    return { child, exitedAt: () => exitedAt };
  }

  /** What the process said: when it sent, and the background process's pid and deadline from its note. */
  function said(stdout: string) {
    const sentAt = Number(/^sent (\d+)$/m.exec(stdout)?.[1]);
    const note = new RegExp(
      '^note: 1 notification \\(begin\\) still on the way when baton ended: handed over to process (\\d+), ' +
        'which goes on trying until (\\S+) at the latest; whether they arrive is not recorded$',
      'm',
    ).exec(stdout);
    expect(note, stdout).not.toBeNull();
    return { sentAt, pid: Number(note![1]), until: Date.parse(note![2]!) };
  }

  /** A process is gone once it is neither there nor a zombie nobody reaped. */
  function alive(pid: number): boolean {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  }

  async function until(check: () => boolean, ms: number): Promise<number> {
    const end = Date.now() + ms;
    while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return Date.now();
  }

  it('is built', () => {
    expect(existsSync(join(ROOT, 'dist/src/transport/deliver-in-background.js'))).toBe(true);
  });

  it('a receiver that never answers does not hold the end; the background process delivers after it', async () => {
    // The first request is held unanswered; the background process's is answered.
    const r = await receiver((_, nth) => (nth === 1 ? { status: 200, delayMs: 60_000 } : { status: 200 }));
    const { child, exitedAt } = sender(
      `${r.url}/hook`,
      { attempts: 3, attemptMs: 5_000, pauseMs: 500 },
      'await n.handOver();',
    );
    const { stdout, exitCode } = await child;
    expect(exitCode).toBe(0);
    const { sentAt, pid } = said(stdout);
    // The process ended once the short wait was over, with its request still unanswered.
    expect(exitedAt() - sentAt).toBeLessThan(HAND_OVER_AFTER_MS + 500);
    await until(() => r.got.length === 2, 5_000);
    expect(r.got.map((g) => g.body)).toEqual([doc, doc]);
    expect(r.got[1]!.at).toBeGreaterThanOrEqual(exitedAt());
    // Delivered: the background process exits by itself.
    await until(() => !alive(pid), 5_000);
    expect(alive(pid)).toBe(false);
  });

  it('the background process gives up by the deadline, after no more attempts than a delivery has', async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 60_000 }));
    const post = { attempts: 3, attemptMs: 1_000, pauseMs: 100 };
    const { child, exitedAt } = sender(`${r.url}/never`, post, 'await n.handOver();');
    const { stdout } = await child;
    const { sentAt, pid, until: deadline } = said(stdout);
    // Its deadline: when the delivery was sent plus every attempt and pause it may take (3 × 1 s + 0.1 s + 0.2 s).
    expect(deadline - sentAt).toBeGreaterThanOrEqual(3_300);
    expect(deadline - sentAt).toBeLessThan(3_300 + 100);
    expect(alive(pid)).toBe(true);
    const goneAt = await until(() => !alive(pid), deadline - Date.now() + 5_000);
    expect(goneAt).toBeLessThan(deadline + 750);
    const later = r.got.filter((g) => g.at >= exitedAt());
    expect(later.length).toBeGreaterThanOrEqual(1);
    expect(r.got.length).toBeLessThanOrEqual(1 + post.attempts);
  });

  it('a second SIGTERM that stops the process at once still hands over what is on its way', async () => {
    const r = await receiver((_, nth) => (nth === 1 ? { status: 200, delayMs: 60_000 } : { status: 200 }));
    const { child, exitedAt } = sender(
      `${r.url}/hook`,
      { attempts: 3, attemptMs: 5_000, pauseMs: 500 },
      'setInterval(() => undefined, 1_000);',
      // A run in progress: the first signal is the run's to handle, the second stops the process (exit 2).
      `const { processInterrupts } = await import('./dist/src/engine/interrupts.js');
       processInterrupts.install();
       processInterrupts.enter({ first() {}, second: () => 2 });`,
    );
    await until(() => r.got.length === 1, 5_000);
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    child.kill('SIGTERM');
    const { stdout, exitCode } = await child;
    expect(exitCode).toBe(2);
    const { pid } = said(stdout);
    await until(() => r.got.length === 2, 5_000);
    expect(r.got[1]!.body).toEqual(doc);
    expect(r.got[1]!.at).toBeGreaterThanOrEqual(exitedAt());
    await until(() => !alive(pid), 5_000);
    expect(alive(pid)).toBe(false);
  });
});
