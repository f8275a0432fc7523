// HAProxy's server-state file: after every pool change the driver saves `show servers state`
// into it, so a reload with load-server-state-from-file keeps the drain.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HaproxyBalancer } from '../../src/balancers/haproxy.js';
import { runtimeCallSavingState, STATE_SAVE_FAILED } from '../../src/balancers/haproxy-commands.js';
import { OperationFailedError, UserError } from '../../src/errors.js';
import type { RunOptions, Transport } from '../../src/transport/types.js';
import { CannedTransport } from '../helpers/scripted-transport.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/haproxy/${name}`, import.meta.url), 'utf8');
const STAT = fixture('local-show-stat-in-flight.csv');
const STATE = fixture('local-show-servers-state.txt');

const FILE = '/var/lib/haproxy/state of web';
const balancer = (t: Transport) =>
  new HaproxyBalancer(t, { backend: 'web', socket: '/run/haproxy/admin.sock', serverStateFile: FILE });
// web1a reads back drain in the fixture.
const drained = `\n${STAT}${STATE}`;

describe('HAProxy server-state file', () => {
  it(
    'saves the state in the same round trip as the change, ' + 'the socket and the file as positional parameters',
    async () => {
      const t = new CannedTransport([{ stdout: drained }], 'lb2.example.com');
      await balancer(t).drain(['web1a']);
      expect(t.calls).toHaveLength(1);
      const { argv, opts } = t.calls[0] as { argv: string[]; opts: RunOptions };
      expect(argv[0]).toBe('sh');
      expect(argv[1]).toBe('-c');
      expect(argv.slice(3)).toEqual(['baton-save-server-state', '/run/haproxy/admin.sock', FILE]);
      // Nothing of the file's name is in the script itself.
      expect(argv[2]).not.toContain('state of web');
      expect(argv[2]).not.toContain('/var/lib/haproxy');
      expect(opts.stdin).toBe('set server web/web1a state drain;show stat web 4 -1;show servers state web\n');
      expect(opts.allowFailure).toBe(true);
    },
  );

  it('does not save on reads', async () => {
    const t = new CannedTransport([{ stdout: `${STAT}${STATE}` }], 'lb2.example.com');
    await balancer(t).members();
    expect(t.calls[0]?.argv[0]).toBe('socat');
  });

  it('fails naming the file when the change took but the save did not', async () => {
    const t = new CannedTransport(
      [
        {
          stdout: drained,
          code: STATE_SAVE_FAILED,
          stderr: `cannot save the server state to ${FILE}: cannot create a temporary file in /var/lib/haproxy`,
        },
      ],
      'lb2.example.com',
    );
    const err = await balancer(t)
      .drain(['web1a'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toContain(
      `haproxy on lb2.example.com took the change but its server state was not saved to ${FILE}`,
    );
    expect((err as OperationFailedError).hint).toContain('a reload would forget the change');
  });

  it('reports the change that did not take before an unsaved state', async () => {
    // web1b is asked to drain but reads back ready.
    const t = new CannedTransport([{ stdout: drained, code: STATE_SAVE_FAILED }], 'lb2.example.com');
    await expect(balancer(t).drain(['web1b'])).rejects.toThrow('did not take state drain: web1b: reads back ready');
  });

  it('refuses a relative state file before running anything', () => {
    expect(() => runtimeCallSavingState('/run/haproxy/admin.sock', ['show info'], 'server-state')).toThrow(UserError);
  });
});

describe('the save script, run by sh against a stand-in socat', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A socat that answers the change with empty lines and `show servers state` with `answer`. */
  const run = (answer: string, file: (d: string) => string) => {
    dir = mkdtempSync(join(tmpdir(), 'baton-state-'));
    const bin = join(dir, 'bin');
    execFileSync('mkdir', [bin]);
    writeFileSync(
      join(bin, 'socat'),
      `#!/bin/sh\nread line\ncase "$line" in 'show servers state') printf '%s' "$ANSWER" ;; *) ` +
        `printf '\\n\\n' ;; esac\n`,
    );
    chmodSync(join(bin, 'socat'), 0o755);
    const call = runtimeCallSavingState('/run/haproxy/admin.sock', ['set server web/web1a state drain'], file(dir));
    try {
      const stdout = execFileSync(call.argv[0] as string, call.argv.slice(1), {
        input: call.stdin,
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, ANSWER: answer },
        stdio: 'pipe',
      });
      return { code: 0, stdout: String(stdout), stderr: '' };
    } catch (e) {
      const err = e as { status: number; stdout: Buffer; stderr: Buffer };
      return { code: err.status, stdout: String(err.stdout), stderr: String(err.stderr) };
    }
  };

  it('writes the state over the file through a temporary file in the same folder', () => {
    const r = run(STATE, (d) => join(d, 'server $(touch pwned) state'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('\n\n');
    expect(readFileSync(join(dir, 'server $(touch pwned) state'), 'utf8')).toBe(STATE);
    expect(readdirSync(dir).sort()).toEqual(['bin', 'server $(touch pwned) state']);
  });

  it('leaves the file alone and says why when HAProxy does not answer with a state file', () => {
    const r = run('Unknown command.\n', (d) => {
      writeFileSync(join(d, 'state'), 'old');
      return join(d, 'state');
    });
    expect(r.code).toBe(STATE_SAVE_FAILED);
    expect(r.stderr).toContain(
      `cannot save the server state to ${join(dir, 'state')}: HAProxy answered: Unknown command.`,
    );
    expect(readFileSync(join(dir, 'state'), 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['bin', 'state']);
  });

  it('fails naming the file when its folder does not exist', () => {
    const r = run(STATE, (d) => join(d, 'missing', 'state'));
    expect(r.code).toBe(STATE_SAVE_FAILED);
    expect(r.stderr).toContain('cannot create a temporary file in');
  });
});
