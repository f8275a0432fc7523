// proposeRollback starts reading the hosts before it asks the balancer, and the command starts the
// balancer's readings before the run record is read: when the hosts cannot be reached and the
// balancer fails first, those early reads must not end as unhandled rejections.
// And it undoes the run that left production part-way, whatever ended after it having done nothing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Balancer } from '../../src/balancers/types.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { planFileOf } from '../../src/release/last-run.js';
import { newestRunToUndo, proposeRollback, readBalancerEarly } from '../../src/release/rollback.js';
import { Journal, journalDir } from '../../src/engine/journal.js';
import { TransportError } from '../../src/transport/errors.js';
import { RecordingTransports } from '../../src/transport/recording.js';

const escaped: unknown[] = [];
const record = (e: unknown): void => void escaped.push(e);
beforeEach(() => {
  escaped.length = 0;
  process.on('unhandledRejection', record);
});
afterEach(() => {
  process.off('unhandledRejection', record);
});

/** A session whose app hosts cannot be reached and whose balancer fails its reading after 50 ms, counting readings. */
function unreachableSession() {
  const dir = mkdtempSync(join(tmpdir(), 'baton-rollback-'));
  const config = parseConfig(
    `app: { name: shop, repo: ./repo, path: /srv/shop, restart: 'true' }
balancer: { driver: haproxy, host: lb.test, backend: web }
clusters:
  a: { internal: prod-a.test, hosts: [{ host: w1a, member: web1a }] }
  b: { internal: prod-b.test, hosts: [{ host: w1b, member: web1b }] }
`,
    join(dir, 'baton.yml'),
  ).config as Config;
  const transports = new RecordingTransports({
    responses: [
      {
        match: (_argv, host) => host !== 'lb.test',
        answer: (_argv, host) =>
          Promise.reject(new TransportError(host, `cannot connect to ${host}: no SSH handshake within 10 s`)),
      },
    ],
  });
  const readings = { members: 0 };
  const balancer = {
    driver: 'haproxy',
    members: () => {
      readings.members++;
      return new Promise((_resolve, reject) =>
        setTimeout(() => reject(new TransportError('lb.test', 'cannot connect to lb.test')), 50),
      );
    },
  } as unknown as Balancer;
  const session: Session = {
    config,
    transports,
    balancer,
    lock: {} as ReleaseLock,
    secrets: new Secrets(),
    addressOf: async () => [],
    close: async () => undefined,
  };
  return { session, readings };
}

it('reports the balancer failing, and the unreachable hosts raise no unhandled rejection', async () => {
  const { session } = unreachableSession();
  await expect(proposeRollback(session)).rejects.toThrow('cannot connect to lb.test');
  await new Promise((r) => setTimeout(r, 50));
  expect(escaped).toEqual([]);
});

// Started before the run record is read: a failure is reported by the proposal, which reads the balancer no more.
it('balancer readings started early: a failure is no unhandled rejection, and the proposal reports it', async () => {
  const { session, readings } = unreachableSession();
  const early = readBalancerEarly(session);
  // The run record is read meanwhile; the reading fails before the proposal awaits it.
  await new Promise((r) => setTimeout(r, 100));
  expect(escaped).toEqual([]);
  await expect(proposeRollback(session, { early })).rejects.toThrow('cannot connect to lb.test');
  expect(readings.members).toBe(1);
  await new Promise((r) => setTimeout(r, 50));
  expect(escaped).toEqual([]);
});

it('undoes the run that left production part-way, not a later push refused at the lock it holds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-rollback-'));
  const run = (id: string, tag: string, lines: (j: Journal) => void) => {
    const j = new Journal(journalDir(dir), id);
    // Its plan beside it (unreadable here: a rollback then reads the hosts, which is not what this test looks at).
    writeFileSync(planFileOf(dir, id), '{}');
    j.append({ event: 'run-begin', command: 'push', plan: 'h', tag, by: 'ada', steps: ['lock', 'drain-a', 'unlock'] });
    lines(j);
  };
  run('20261207T150715.000Z-aaaaaa', 'v2', (j) => {
    j.append({ event: 'step-ok', step: 'lock', phase: 'forward', ms: 1 });
    j.append({ event: 'step-ok', step: 'drain-a', phase: 'forward', ms: 1 });
    j.append({ event: 'step-fail', step: 'smoke-a', phase: 'forward', ms: 1, error: 'smoke failed' });
    j.append({ event: 'run-end', outcome: 'needs-attention', ms: 3 });
  });
  // Someone pushes again: refused at the lock the first run still holds; nothing changed.
  run('20261207T150738.000Z-bbbbbb', 'v1', (j) => {
    j.append({ event: 'step-fail', step: 'lock', phase: 'forward', ms: 1, error: 'release lock is held' });
    j.append({ event: 'run-end', outcome: 'reversed', ms: 1 });
  });
  expect(newestRunToUndo(dir)?.run).toBe('20261207T150715.000Z-aaaaaa');
});
