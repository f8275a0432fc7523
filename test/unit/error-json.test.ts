// With --json, an error that several hosts caused lists them one by one (`hosts`: host, message,
// hint; the exit code is the command's), as well as in the message a person reads; wrapped or not.
import { describe, expect, it } from 'vitest';
import { errorToJson } from '../../src/cli/base-command.js';
import { OperationFailedError, UserError } from '../../src/errors.js';
import { TransportError } from '../../src/transport/errors.js';
import { forEachHost } from '../../src/transport/fan-out.js';

async function failures() {
  return forEachHost(['web-1', 'web-2', 'web-3'], 2, async (host) => {
    if (host === 'web-2') return 'ok';
    throw host === 'web-1'
      ? new TransportError(host, 'cannot connect to web-1: connection refused', 'is sshd running?')
      : new Error('disk full\nwhile unpacking');
  }).catch((e: unknown) => e as Error);
}

describe('errorToJson', () => {
  it('lists each host that failed, in the order given, with its own message', async () => {
    const json = errorToJson((await failures()) as never);
    expect(json.message).toBe(
      '2 of 3 hosts failed:\n  web-1: cannot connect to web-1: connection refused\n  web-3: ' +
        'disk full\n    while unpacking',
    );
    expect(json.hosts).toEqual([
      { host: 'web-1', message: 'cannot connect to web-1: connection refused', hint: 'is sshd running?' },
      { host: 'web-3', message: 'disk full\nwhile unpacking' },
    ]);
  });

  it('finds them behind an error that wraps them, and adds nothing to one that has none', async () => {
    const wrapped = Object.assign(new OperationFailedError('push of v2 failed at stage-a', 'unchanged'), {
      cause: await failures(),
    });
    expect((errorToJson(wrapped).hosts as unknown[]).map((h) => (h as { host: string }).host)).toEqual([
      'web-1',
      'web-3',
    ]);
    expect(errorToJson(new UserError('no tag given'))).not.toHaveProperty('hosts');
  });
});
