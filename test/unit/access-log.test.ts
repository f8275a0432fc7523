// The access-log counts run their shell script for real, on this machine (a local transport):
// what the watch reads from Apache's and nginx's public frontends.
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AccessLogCounts,
  accessLogArgv,
  countsByMember,
  parseAccessLog,
  type UpstreamCounts,
} from '../../src/balancers/access-log.js';
import { MemberCountsUnavailable } from '../../src/errors.js';
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
    expect(argv.slice(-4)).toEqual(['/var/log/nginx/public log;rm -rf x.log', '123', '42', '0']);
    expect(accessLogArgv('/x.log', 'first', 0, true).at(-1)).toBe('1');
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

// A line as the documented log formats write it: combined, then upstream="…" last. The
// User-Agent holds the same text, as anyone's may: only the field at the end counts.
const tagged = (status: number, upstream?: string) =>
  `10.213.7.1 - - [27/Nov/2026:22:00:00 +0000] "GET / HTTP/1.1" ${status} 42 "-" "ua upstream=\\"x:1\\""` +
  (upstream === undefined ? '' : ` upstream="${upstream}"`) +
  '\n';

describe('access-log counts per upstream', () => {
  it('count each line for its upstream, a retried nginx line for its last, a failed try for each before', async () => {
    const file = logFile();
    writeFileSync(file, tagged(500, '10.0.0.9:8000'));
    const counts = new AccessLogCounts(new LocalTransport(), file, 15_000, true);
    expect(await counts.readUpstreams()).toEqual({
      upstreams: {},
      untagged: { requests: 0, http5xx: 0 },
      lastLineTagged: true,
    });
    // a retried line still being written: neither its answer nor its failed attempt counts yet
    const half = tagged(503, '10.0.0.6:8000, 10.0.0.3:8000');
    appendFileSync(
      file,
      tagged(200, '10.0.0.2:8000') +
        tagged(500, '10.0.0.2:8000') +
        // nginx tried .2 (it failed: proxy_next_upstream), then .3 answered
        tagged(200, '10.0.0.2:8000, 10.0.0.3:8000') +
        tagged(502, '10.0.0.2:8000, 10.0.0.3:8000 : 10.0.0.4:8000') +
        tagged(200, 'http://10.0.0.5:8000') +
        tagged(404, '-') +
        tagged(500) +
        half.slice(0, 40),
    );
    expect(await counts.readUpstreams()).toEqual({
      upstreams: {
        '10.0.0.2:8000': { requests: 2, http5xx: 1, failed: 2 },
        '10.0.0.3:8000': { requests: 1, http5xx: 0, failed: 1 },
        '10.0.0.4:8000': { requests: 1, http5xx: 1 },
        'http://10.0.0.5:8000': { requests: 1, http5xx: 0 },
        '-': { requests: 1, http5xx: 0 },
      },
      untagged: { requests: 1, http5xx: 1 },
      lastLineTagged: true,
    });
    // the half-written line counts once it is whole, for its own upstream
    appendFileSync(file, half.slice(40));
    const after = await counts.readUpstreams();
    expect(after.upstreams['10.0.0.3:8000']).toEqual({ requests: 2, http5xx: 1, failed: 1 });
    // a member that only failed attempts has counts too: none answered
    expect(after.upstreams['10.0.0.6:8000']).toEqual({ requests: 0, http5xx: 0, failed: 1 });
    expect(await counts.read()).toEqual({ requests: 8, http5xx: 4 });
  });

  it("say at the first read that the log's last line has no upstream field", async () => {
    const file = logFile();
    writeFileSync(file, line(200));
    const counts = new AccessLogCounts(new LocalTransport(), file, 15_000, true);
    expect((await counts.readUpstreams()).lastLineTagged).toBe(false);
    const empty = logFile();
    writeFileSync(empty, '');
    const none = new AccessLogCounts(new LocalTransport(), empty, 15_000, true);
    expect((await none.readUpstreams()).lastLineTagged).toBeUndefined();
    appendFileSync(empty, line(200) + line(500));
    expect(await none.readUpstreams()).toEqual({ upstreams: {}, untagged: { requests: 2, http5xx: 1 } });
  });

  it('parse the per-upstream lines and refuse a malformed one', () => {
    expect(parseAccessLog('12 0\nuntagged\n')).toEqual({ inode: '12', size: 0, lastLineTagged: false });
    expect(
      parseAccessLog(
        '12 300\n300 3 1\n= 2 1 1 12.500 0 10.0.0.2:8000\n= 0 0 0 0.000 4 10.0.0.3:8000\n- 1 0 0 0.000 0\n',
      ),
    ).toEqual({
      inode: '12',
      size: 300,
      appended: {
        consumed: 300,
        requests: 3,
        http5xx: 1,
        upstreams: {
          '10.0.0.2:8000': { requests: 2, http5xx: 1, timed: 1, totalMs: 12.5 },
          '10.0.0.3:8000': { requests: 0, http5xx: 0, timed: 0, totalMs: 0, failed: 4 },
        },
        untagged: { requests: 1, http5xx: 0, timed: 0, totalMs: 0 },
      },
    });
    expect(() => parseAccessLog('12 300\n300 3 1\n= 2 1\n')).toThrow(/an upstream's counts/);
    expect(() => parseAccessLog('12 300\n300 3 1\n= 2 1 0 0.000 0\n')).toThrow(/an upstream's counts/);
    // the counts of an older baton's script (no failed field) are not taken for an upstream named 10.0.0.2:8000
    expect(() => parseAccessLog('12 300\n300 3 1\n= 2 1 0 0.000 10.0.0.2:8000\n')).toThrow(/an upstream's counts/);
  });

  it("sum each upstream's times from Apache's time_us and nginx's upstream_time, untimed lines apart", async () => {
    const file = logFile();
    writeFileSync(file, '');
    const counts = new AccessLogCounts(new LocalTransport(), file, 15_000, true);
    await counts.readUpstreams();
    const timed = (status: number, time: string, upstream: string) =>
      tagged(status, upstream).replace(/ upstream="[^"]*"\n$/, ` ${time} upstream="${upstream}"\n`);
    appendFileSync(
      file,
      timed(200, 'time_us="1500"', 'web1a') +
        timed(500, 'time_us="30500"', 'web1a') +
        // nginx: seconds, the last of a retried line's times is the member that answered
        timed(200, 'upstream_time="0.040"', '10.0.0.2:8000') +
        timed(200, 'upstream_time="2.000, 0.010"', '10.0.0.3:8000, 10.0.0.2:8000') +
        // no member answered in time: no time to count
        timed(504, 'upstream_time="-"', '10.0.0.2:8000') +
        // a line written with the older format counts, untimed
        tagged(200, '10.0.0.2:8000') +
        // a time field anywhere but just before the upstream field is someone's User-Agent
        tagged(200, 'web1a').replace('"ua ', '"ua time_us=\\"9000000\\" '),
    );
    const after = await counts.readUpstreams();
    expect(after.upstreams['web1a']).toEqual({ requests: 3, http5xx: 1, timed: 2, totalMs: 32 });
    expect(after.upstreams['10.0.0.2:8000']).toEqual({ requests: 4, http5xx: 1, timed: 2, totalMs: 50 });
  });
});

describe('access-log counts per member', () => {
  const where = { file: '/var/log/nginx/public.log', host: 'lb', field: '$upstream_addr' };
  const members: Record<string, string> = { '10.0.0.2:8000': 'web1a', '10.0.0.3:8000': 'web2a' };
  const read = (r: Partial<UpstreamCounts>): UpstreamCounts => ({
    upstreams: {},
    untagged: { requests: 0, http5xx: 0 },
    ...r,
  });

  it("sum each member's upstreams and leave out what no member answered", () => {
    expect(
      countsByMember(
        read({
          upstreams: {
            '10.0.0.2:8000': { requests: 5, http5xx: 1 },
            '10.0.0.3:8000': { requests: 4, http5xx: 0 },
            '-': { requests: 2, http5xx: 0 },
            '10.0.0.9:8000': { requests: 1, http5xx: 1 },
          },
          untagged: { requests: 3, http5xx: 3 },
        }),
        (u) => members[u],
        where,
      ),
    ).toEqual({ web1a: { requests: 5, http5xx: 1 }, web2a: { requests: 4, http5xx: 0 } });
  });

  it("give a member's summed times as its latency reading", () => {
    expect(
      countsByMember(
        read({ upstreams: { '10.0.0.2:8000': { requests: 5, http5xx: 1, timed: 4, totalMs: 80 } } }),
        (u) => members[u],
        where,
      ),
    ).toEqual({ web1a: { requests: 5, http5xx: 1, latency: [{ timed: 4, totalMs: 80 }] } });
  });

  it('give each member its failed attempts where the field lists every try (nginx), none where not (Apache)', () => {
    const counted = read({
      upstreams: {
        '10.0.0.2:8000': { requests: 0, http5xx: 0, failed: 7 },
        '10.0.0.3:8000': { requests: 9, http5xx: 0 },
      },
    });
    expect(countsByMember(counted, (u) => members[u], where, true)).toEqual({
      web1a: { requests: 0, http5xx: 0, failed: 7 },
      web2a: { requests: 9, http5xx: 0, failed: 0 },
    });
    expect(countsByMember(counted, (u) => members[u], where)).toEqual({
      web1a: { requests: 0, http5xx: 0 },
      web2a: { requests: 9, http5xx: 0 },
    });
  });

  it('refuse in one sentence when the lines do not name their upstream', () => {
    const untagged = () => countsByMember(read({ untagged: { requests: 3, http5xx: 0 } }), (u) => members[u], where);
    expect(untagged).toThrow(MemberCountsUnavailable);
    expect(untagged).toThrow(
      'the access log /var/log/nginx/public.log on lb does not end its lines with upstream="$upstream_addr", ' +
        'so baton cannot tell which member answered them',
    );
    expect(() => countsByMember(read({ lastLineTagged: false }), (u) => members[u], where)).toThrow(
      MemberCountsUnavailable,
    );
    // nothing appended yet and nothing known: no counts, no verdict on the format
    expect(countsByMember(read({}), (u) => members[u], where)).toEqual({});
  });
});
