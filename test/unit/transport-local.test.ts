import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExternalCommandError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';

const local = new LocalTransport();

describe('LocalTransport', () => {
  it('runs argv without a shell, so hostile text stays one argument', async () => {
    const r = await local.run(['printf', '%s', 'a;b $(id) "q"']);
    expect(r).toEqual({ code: 0, stdout: 'a;b $(id) "q"', stderr: '' });
  });

  it('feeds stdin', async () => {
    expect((await local.run(['cat'], { stdin: 'line 1\nline 2\n' })).stdout).toBe('line 1\nline 2\n');
  });

  it('throws ExternalCommandError naming localhost, argv, code and the stderr tail', async () => {
    const script = 'for i in $(seq 1 25); do echo "err $i" >&2; done; exit 3';
    const err = (await local.run(['sh', '-c', script]).catch((e: unknown) => e)) as ExternalCommandError;
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect(err.host).toBe('localhost');
    expect(err.argv).toEqual(['sh', '-c', script]);
    expect(err.code).toBe(3);
    expect(err.stderrTail.split('\n')).toEqual(Array.from({ length: 20 }, (_, i) => `err ${i + 6}`));
    expect((await local.run(['sh', '-c', 'exit 5'], { allowFailure: true })).code).toBe(5);
  });

  it('times out', async () => {
    const start = Date.now();
    const err = (await local.run(['sleep', '5'], { timeoutMs: 200 }).catch((e: unknown) => e)) as ExternalCommandError;
    expect(err.stderrTail).toMatch(/timed out after 200 ms/);
    expect(Date.now() - start).toBeLessThan(3000);
  });

  it('reports a command that cannot start', async () => {
    const err = (await local.run(['/nonexistent/baton-cmd']).catch((e: unknown) => e)) as ExternalCommandError;
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect(err.stderrTail).toMatch(/ENOENT/);
  });

  it('copies files for upload and download', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-local-'));
    writeFileSync(join(dir, 'a'), 'payload');
    await local.upload(join(dir, 'a'), join(dir, 'b'));
    await local.download(join(dir, 'b'), join(dir, 'c'));
    expect(readFileSync(join(dir, 'c'), 'utf8')).toBe('payload');
  });
});

describe('LocalTransport.openStream', () => {
  it('keeps a command running for several round trips, then closes its stdin', async () => {
    const stream = await local.openStream(['cat']);
    let out = '';
    stream.onData((chunk) => (out += chunk));
    stream.write('one\n');
    await expect.poll(() => out).toBe('one\n');
    stream.write('two\n');
    await expect.poll(() => out).toBe('one\ntwo\n');
    await stream.close();
    expect(stream.isEnded).toBe(true);
    expect(await stream.ended).toEqual({ code: 0, stderr: '' });
  });

  it('reports a command that cannot start through `ended`, naming the host, and ignores later writes', async () => {
    const stream = await local.openStream(['/nonexistent/baton-no-such-command']);
    const end = await stream.ended;
    expect(end.code).toBeNull();
    expect(end.error).toMatch(/^\/nonexistent\/baton-no-such-command on localhost: .*ENOENT/);
    stream.write('ignored\n');
    await stream.close();
  });
});
