// The access-log counts run their shell script for real, on this machine (a local transport):
// what the watch reads from Apache's and nginx's public frontends.
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccessLogCounts, accessLogArgv, parseAccessLog } from '../../src/balancers/access-log.js';
import { LocalTransport } from '../../src/transport/local.js';

const line = (status: number, path = '/') =>
  `10.213.7.1 - - [27/Nov/2026:22:00:00 +0000] "GET ${path} HTTP/1.1" ${status} 42 "-" "load"\n`;

function logFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'baton-access-')), 'public.log');
}

describe('access-log counts', () => {
  it('count only what was appended after the first read: requests and 5xx answers', async () => {
    const file = logFile();
    writeFileSync(file, line(500).repeat(10)); // before the first read: not counted
    const counts = new AccessLogCounts(new LocalTransport(), file);
    expect(await counts.read()).toEqual({ requests: 0, http5xx: 0 });
    appendFileSync(file, line(200) + line(502) + line(404) + line(503, '/write'));
    expect(await counts.read()).toEqual({ requests: 4, http5xx: 2 });
    expect(await counts.read()).toEqual({ requests: 4, http5xx: 2 });
  });

  it('leave a line still being written for the next read', async () => {
    const file = logFile();
    writeFileSync(file, '');
    const counts = new AccessLogCounts(new LocalTransport(), file);
    await counts.read();
    const half = line(500);
    appendFileSync(file, line(200) + half.slice(0, 30));
    expect(await counts.read()).toEqual({ requests: 1, http5xx: 0 });
    appendFileSync(file, half.slice(30));
    expect(await counts.read()).toEqual({ requests: 2, http5xx: 1 });
  });

  it('follow a rotated or truncated log from its start, and a log that appears later', async () => {
    const file = logFile();
    writeFileSync(file, line(200));
    const counts = new AccessLogCounts(new LocalTransport(), file);
    await counts.read();
    appendFileSync(file, line(200));
    renameSync(file, `${file}.1`);
    writeFileSync(file, line(500));
    // the old file's last line is lost with the rotation
    expect(await counts.read()).toEqual({ requests: 1, http5xx: 1 });
    writeFileSync(file, ''); // truncated (copytruncate)
    expect(await counts.read()).toEqual({ requests: 1, http5xx: 1 });
    appendFileSync(file, line(504));
    expect(await counts.read()).toEqual({ requests: 2, http5xx: 2 });
    rmSync(file);
    expect(await counts.read()).toEqual({ requests: 2, http5xx: 2 });
    writeFileSync(file, line(200) + line(200));
    expect(await counts.read()).toEqual({ requests: 4, http5xx: 2 });
  });

  it('pass the file and its position as arguments, never inside the script', () => {
    const argv = accessLogArgv('/var/log/nginx/public log;rm -rf x.log', '123', 42);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(-3)).toEqual(['/var/log/nginx/public log;rm -rf x.log', '123', '42']);
    expect(argv[2]).not.toContain('public');
    expect(() => accessLogArgv('relative.log', 'first', 0)).toThrow(/not an absolute path/);
    expect(() => accessLogArgv('/x.log', '1; rm', 0)).toThrow(/bad access-log position/);
  });

  it('refuse an answer that is not one', () => {
    expect(parseAccessLog('123 456\n')).toEqual({ inode: '123', size: 456 });
    expect(parseAccessLog('123 456\n100 3 1\n')).toEqual({
      inode: '123',
      size: 456,
      appended: { consumed: 100, requests: 3, http5xx: 1 },
    });
    expect(() => parseAccessLog('stat: cannot stat')).toThrow(/inode and size/);
  });
});
