// proposeRollback starts reading the hosts before it asks the balancer: when the hosts cannot be
// reached and the balancer fails first, that early read must not end as an unhandled rejection.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Balancer } from '../../src/balancers/types.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { Secrets } from '../../src/config/secrets.js';
import type { ReleaseLock } from '../../src/engine/lock.js';
import type { Session } from '../../src/engine/session.js';
import { proposeRollback } from '../../src/release/rollback.js';
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

it('reports the balancer failing, and the unreachable hosts raise no unhandled rejection', async () => {
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
  const balancer = {
    driver: 'haproxy',
    members: () =>
      new Promise((_resolve, reject) =>
        setTimeout(() => reject(new TransportError('lb.test', 'cannot connect to lb.test')), 50),
      ),
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

  await expect(proposeRollback(session)).rejects.toThrow('cannot connect to lb.test');
  await new Promise((r) => setTimeout(r, 50));
  expect(escaped).toEqual([]);
});
