import { describe, expect, it } from 'vitest';
import { ExternalCommandError } from '../../src/errors.js';
import { RecordingTransports } from '../../src/transport/recording.js';

describe('RecordingTransports', () => {
  it('records every call per host, in order, without touching anything', async () => {
    const rt = new RecordingTransports();
    await rt.get('web-1').run(['ln', '-sfn', 'releases/v1', 'current']);
    await rt.get('web-2').upload('/tmp/a.tar.gz', '/srv/app/a.tar.gz');
    await rt.get('web-1').run(['systemctl', 'restart', 'shop'], { stdin: 'x' });
    expect(rt.get('web-1')).toBe(rt.get('web-1'));
    expect(rt.runsOn('web-1')).toEqual([
      ['ln', '-sfn', 'releases/v1', 'current'],
      ['systemctl', 'restart', 'shop'],
    ]);
    expect(rt.transcript()).toEqual([
      'web-1: $ ln -sfn releases/v1 current',
      'web-2: upload /tmp/a.tar.gz → /srv/app/a.tar.gz',
      'web-1: $ systemctl restart shop <<< (1 bytes)',
    ]);
    await rt.closeAll();
    expect(rt.closed).toBe(true);
  });

  it('answers from canned responses: argv prefix, RegExp, predicate, per host, limited times', async () => {
    const rt = new RecordingTransports({
      responses: [
        { match: ['readlink'], host: 'web-1', answer: { stdout: 'releases/v1\n' } },
        { match: /show stat/, answer: (argv) => ({ stdout: `asked: ${argv.at(-1)}` }) },
        { match: (argv) => argv[0] === 'flaky', answer: { code: 1, stderr: 'first try fails' }, times: 1 },
      ],
    });
    expect((await rt.get('web-1').run(['readlink', 'current'])).stdout).toBe('releases/v1\n');
    expect((await rt.get('web-2').run(['readlink', 'current'])).stdout).toBe('');
    expect((await rt.get('lb').run(['sh', '-c', 'echo "show stat" | socat'])).stdout).toBe(
      'asked: echo "show stat" | socat',
    );
    await expect(rt.get('web-1').run(['flaky'])).rejects.toBeInstanceOf(ExternalCommandError);
    expect((await rt.get('web-1').run(['flaky'])).code).toBe(0);
  });

  it('fails like a real transport on a non-zero exit, unless allowFailure', async () => {
    const rt = new RecordingTransports().respond({
      match: ['test', '-e'],
      answer: { code: 1, stderr: 'a\n'.repeat(30) + 'last' },
    });
    const err = (await rt
      .get('web-3')
      .run(['test', '-e', '/x'])
      .catch((e: unknown) => e)) as ExternalCommandError;
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect(err.host).toBe('web-3');
    expect(err.code).toBe(1);
    expect(err.stderrTail.split('\n')).toHaveLength(20);
    expect(err.stderrTail.endsWith('last')).toBe(true);
    expect((await rt.get('web-3').run(['test', '-e', '/x'], { allowFailure: true })).code).toBe(1);
  });

  it('in strict mode refuses runs nothing answers', async () => {
    const rt = new RecordingTransports({ strict: true });
    await expect(rt.get('h').run(['rm', '-rf', '/srv/app'])).rejects.toThrow(
      /no canned response for h: rm -rf \/srv\/app/,
    );
  });

  it('prints each call as a dry run', async () => {
    const lines: string[] = [];
    const rt = new RecordingTransports({ log: (l) => lines.push(l) });
    await rt.get('lb').run(['printf', '%s', 'set server web/w1 state drain']);
    await rt.get('web-1').download('/etc/haproxy/haproxy.cfg', '/tmp/h.cfg');
    expect(lines).toEqual([
      "[lb] $ printf '%s' 'set server web/w1 state drain'",
      '[web-1] download /etc/haproxy/haproxy.cfg → /tmp/h.cfg',
    ]);
  });
});
