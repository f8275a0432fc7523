// Issue 34 items 2 and 3 against the lab: hooks (real scripts beside baton.yml) fire in order
// with the run's facts in a push and in a reversal, a before-lock hook refusing a push leaves
// production as it was (exit 3), and a receiver on loopback gets every notification of both
// runs, with its URL (a secret, from the environment) in neither the journal nor the output.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { readJournal } from '../../src/engine/journal.js';
import { currentReleases, onHost, readyAllHaproxyMembers } from './helpers/lab.js';

const LOCK = `/run/baton/hooks-test-${process.pid}/lock`;
const SECRET_PATH = '/services/T0/B0/hooks-test-secret';
let dir: string;
let config: string;
let frozen: string;
let server: Server;
let received: { path: string; body: Record<string, unknown> }[] = [];
let hookUrl: string;

function baton(cfg: string, ...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', cfg], {
    reject: false,
    timeout: 240_000,
    env: { CI: '1', BATON_USER: 'hooks-test', HOOK_URL: hookUrl },
  });
}

async function poolStates(): Promise<string> {
  return onHost('lb.baton.test', 'echo "show stat web 4 -1" | socat stdio /run/haproxy/admin.sock | cut -d, -f2,18');
}

/** What each hook recorded: its event and the variables it was given, in the order they ran. */
function hookLog(): string[] {
  const text = readFileSync(join(dir, 'hooks.log'), 'utf8').trim();
  return text ? text.split('\n') : [];
}

function script(name: string, body: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hookUrl = `${base}${SECRET_PATH}`;
  dir = mkdtempSync(join(tmpdir(), 'baton-hooks-'));
  writeFileSync(join(dir, 'hooks.log'), '');
  script(
    'record',
    'event=$(cat)\n' +
      'echo "$BATON_EVENT cluster=${BATON_CLUSTER:--} tag=$BATON_TAG kind=$BATON_KIND outcome=${BATON_OUTCOME:--}' +
      ' run=$BATON_RUN release=$BATON_RELEASE' +
      ' stdin-event=$(printf %s "$event" | sed -n \'s/.*"event":"\\([^"]*\\)".*/\\1/p\')" >> hooks.log\n' +
      'echo "recorded $BATON_EVENT"',
  );
  script('freeze', 'echo "release freeze: no pushes during the hooks test"; exit 1');
  const hooks = {
    'before-lock': ['./record'],
    'after-activate': ['./record'],
    'after-flip': ['./record'],
    'after-success': ['./record'],
    'after-reversal': ['./record'],
    'needs-attention': ['./record'],
  };
  const notify = [
    { url: { env: 'HOOK_URL' }, format: 'webhook' },
    { url: `${base}/slack`, format: 'slack', events: ['flip', 'succeeded', 'reversed'] },
  ];
  config = writeLabConfig(join(dir, 'baton.yml'), [
    [['lock', 'path'], LOCK],
    [['hooks'], hooks],
    [['notify'], notify],
  ]);
  frozen = writeLabConfig(join(dir, 'frozen-baton.yml'), [
    [['lock', 'path'], LOCK],
    [['hooks'], { ...hooks, 'before-lock': './freeze' }],
  ]);
  const r = await baton(config, 'push', 'v1');
  expect(r.exitCode, r.stderr).toBe(0);
  readyAllHaproxyMembers();
});

beforeEach(() => {
  writeFileSync(join(dir, 'hooks.log'), '');
  received = [];
});

afterAll(async () => {
  await baton(config, 'unlock', '--force', '--reason', 'hooks test clean-up', '--yes');
  await baton(config, 'push', 'v1');
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe('hooks and notifications in a lab push', () => {
  it('a push: before-lock, after-activate ×2, after-flip, after-success in order; every notification', async () => {
    const r = await baton(config, 'push', 'v2', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { run: string; journal: string; release: string; outcome: string };
    expect(result.outcome).toBe('succeeded');
    const facts = `tag=v2 kind=push`;
    const tail = `run=${result.run} release=${result.release}`;
    expect(hookLog()).toEqual([
      `before-lock cluster=- ${facts} outcome=- ${tail} stdin-event=before-lock`,
      `after-activate cluster=a ${facts} outcome=- ${tail} stdin-event=after-activate`,
      `after-flip cluster=a ${facts} outcome=- ${tail} stdin-event=after-flip`,
      `after-activate cluster=b ${facts} outcome=- ${tail} stdin-event=after-activate`,
      `after-success cluster=- ${facts} outcome=succeeded ${tail} stdin-event=after-success`,
    ]);
    // The hooks ran between the steps they follow and precede, and said so in the journal.
    const journal = readJournal(result.journal);
    const at = (pred: (e: (typeof journal)[number]) => boolean) => journal.findIndex(pred);
    const note = (text: string) => at((e) => e.event === 'note' && e.message.startsWith(text));
    const stepBegin = (id: string) => at((e) => e.event === 'step-begin' && e.step === id && e.phase === 'forward');
    expect(note('hook before-lock: exit 0')).toBeLessThan(stepBegin('lock'));
    expect(note('hook after-activate (cluster a): exit 0')).toBeLessThan(stepBegin('ready-a'));
    expect(note('hook after-success: exit 0')).toBeLessThan(at((e) => e.event === 'run-end'));
    expect(journal.some((e) => e.event === 'note' && e.message === 'hook after-flip| recorded after-flip')).toBe(true);

    expect(received.filter((m) => m.path === SECRET_PATH).map((m) => [m.body.event, m.body.run])).toEqual([
      ['begin', result.run],
      ['flip', result.run],
      ['succeeded', result.run],
    ]);
    expect(received.filter((m) => m.path === '/slack').map((m) => m.body)).toEqual([
      { text: 'shop: push of v2: cluster a is back in the public pool' },
      { text: 'shop: push of v2 succeeded' },
    ]);
    expect(readFileSync(result.journal, 'utf8')).not.toContain('hooks-test-secret');
    expect(r.stdout + r.stderr).not.toContain('hooks-test-secret');
  });

  it('a broken release: after-reversal with outcome reversed, and the reversed notification', async () => {
    const r = await baton(config, 'push', 'v3-broken', '--json');
    expect(r.exitCode, r.stderr).toBe(1);
    const result = JSON.parse(r.stdout).error.result as { run: string; outcome: string; failedStep: string };
    expect(result.outcome).toBe('reversed');
    const log = hookLog();
    expect(log.map((l) => l.split(' ')[0])).toEqual(['before-lock', 'after-reversal']);
    expect(log[1]).toContain(`tag=v3-broken kind=push outcome=reversed run=${result.run}`);
    const events = received.filter((m) => m.path === SECRET_PATH).map((m) => m.body);
    expect(events.map((e) => e.event)).toEqual(['begin', 'reversed']);
    expect(events[1]).toMatchObject({ outcome: 'reversed', failedStep: result.failedStep, productionChanged: true });
    expect(received.filter((m) => m.path === '/slack').map((m) => m.body.text)).toEqual([
      expect.stringMatching(
        /^shop: push of v3-broken was reversed \([a-z]+-a failed: [^\n]+\); production is back where it started$/,
      ),
    ]);
    for (const release of Object.values(await currentReleases())) expect(release).toMatch(/^v2-/);
  });

  it('a before-lock hook that refuses: exit 3, its output shown, production unchanged and the lock free', async () => {
    const before = { releases: await currentReleases(), pool: await poolStates() };
    const r = await baton(frozen, 'push', 'v1');
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/the before-lock hook refused the run \(exit 1\)/);
    expect(r.stderr).toContain('release freeze: no pushes during the hooks test');
    expect(hookLog()).toEqual([]);
    expect({ releases: await currentReleases(), pool: await poolStates() }).toEqual(before);
    const status = JSON.parse((await baton(config, 'status', '--json')).stdout) as { lock: unknown };
    expect(status.lock).toEqual({ state: 'free' });
  });
});
