import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  appConnsArgv,
  balancerConnsArgv,
  failedAttemptPattern,
  key,
  nginxReloadArgv,
  nginxTestArgv,
  noLiveUpstreamsPattern,
  parseSs,
  parseStubStatus,
  parseWorkers,
  workersArgv,
  workersPredateFile,
  workersVsFileArgv,
} from '../../src/balancers/nginx-commands.js';
import { UserError } from '../../src/errors.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/nginx/${name}`, import.meta.url), 'utf8');

describe('nginx commands', () => {
  it("test, reload and the master's workers", () => {
    expect(nginxTestArgv('nginx', false)).toEqual(['nginx', '-t']);
    expect(nginxTestArgv('nginx', true)).toEqual(['sudo', '-n', '--', 'nginx', '-t']);
    expect(nginxReloadArgv('/usr/sbin/nginx', false)).toEqual(['/usr/sbin/nginx', '-s', 'reload']);
    expect(nginxReloadArgv('nginx', true)).toEqual(['sudo', '-n', '--', 'nginx', '-s', 'reload']);
    expect(workersArgv('/run/nginx.pid').slice(-1)).toEqual(['/run/nginx.pid']);
    expect(() => workersArgv('nginx.pid')).toThrow(UserError);
  });

  it('reads the workers during a reload (captured): the old one is shutting down', () => {
    expect(parseWorkers(fixture('workers-reloading.txt'))).toEqual({
      master: 17108,
      workers: [
        { pid: 1730, shuttingDown: false },
        { pid: 32148, shuttingDown: true },
      ],
    });
    expect(parseWorkers(fixture('workers.txt')).workers).toHaveLength(1);
    expect(() => parseWorkers('cat: /run/nginx.pid: No such file')).toThrow(/expected the nginx master pid/);
  });

  it('asks ss for connections to the members (balancer side) and to the app port (host side)', () => {
    expect(
      balancerConnsArgv([
        { address: '10.213.7.11', port: 8000 },
        { address: 'fd00::1', port: 80 },
      ]),
    ).toEqual(['ss', '-Htinp', 'state', 'established', '( dst 10.213.7.11:8000 or dst [fd00::1]:80 )']);
    expect(appConnsArgv(8000)).toEqual(['ss', '-Htin', 'state', 'established', '( sport = :8000 )']);
    expect(() => balancerConnsArgv([{ address: 'web1.internal', port: 80 }])).toThrow(UserError);
  });

  it('parses ss on both ends (captured) and pairs the same connection', () => {
    const lb = parseSs(fixture('lb-ss-web2b.txt'));
    const app = parseSs(fixture('app-ss-web2b.txt'));
    expect(lb[0]).toEqual({
      local: { address: '10.213.7.2', port: 33320 },
      peer: { address: '10.213.7.42', port: 8000 },
      processes: ['nginx'],
    });
    expect(app[0]).toEqual({
      local: { address: '10.213.7.42', port: 8000 },
      peer: { address: '10.213.7.2', port: 35836 },
      processes: [],
    });
    const fromLb = new Set(lb.map((c) => key(c.peer, c.local)));
    expect(app.every((c) => fromLb.has(key(c.local, c.peer)))).toBe(true);
    expect(parseSs(fixture('lb-ss-reloading.txt')).filter((c) => c.processes.includes('nginx'))).toHaveLength(20);
  });

  it('parses stub_status', () => {
    expect(
      parseStubStatus(
        'Active connections: 3 \nserver accepts handled requests\n 10 10 42 \nReading: 0 Writing: 1 Waiting: 2 \n',
      ),
    ).toEqual({ active: 3, accepts: 10, handled: 10, requests: 42 });
    expect(() => parseStubStatus('<html>404</html>')).toThrow(/expected nginx stub_status/);
  });

  it("matches nginx's error-log lines for failed attempts at these servers only", () => {
    const re = new RegExp(failedAttemptPattern([{ address: '10.213.7.11', port: 8000 }]));
    expect(
      re.test(
        '2026/11/27 20:00:00 [error] 1#1: *5 connect() failed (111: Connection refused) ' +
          'while connecting to upstream, client: 10.213.7.1, server: , request: "GET / HTTP/1.1", upstream: ' +
          '"http://10.213.7.11:8000/", host: "10.213.7.2:8088"',
      ),
    ).toBe(true);
    expect(
      re.test(
        '… upstream prematurely closed connection while reading response header from upstream, client: x, ' +
          'upstream: "http://10.213.7.12:8000/slow"',
      ),
    ).toBe(false);
    expect(
      new RegExp(noLiveUpstreamsPattern('web')).test(
        '[error] 1#1: *9 no live upstreams while connecting to upstream, client: x, request: ' +
          '"GET / HTTP/1.1", upstream: "http://web/", host: "y"',
      ),
    ).toBe(true);
  });

  it('tells whether the running workers started before the upstream file last changed', () => {
    const argv = workersVsFileArgv('/run/nginx.pid', '/etc/nginx/up.conf');
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(-2)).toEqual(['/run/nginx.pid', '/etc/nginx/up.conf']);
    // clock 1000.0, file changed at 990.0 (10 s ago); uptime 500.00 s, 100 ticks a second
    const answer = (...workers: string[]) =>
      ['1000.000000000', '990.000000000', '500.00', '100', ...workers].join('\n');
    expect(workersPredateFile(answer('49500 nginx: worker process'))).toBe(false); // started 5 s ago: after the change
    expect(workersPredateFile(answer('48000 nginx: worker process'))).toBe(true); // 20 s ago: before it
    expect(workersPredateFile(answer('49000 nginx: worker process'))).toBe(true); // at the same instant: cannot tell
    // 10 ms after: within the clocks' error
    expect(workersPredateFile(answer('49001 nginx: worker process'))).toBe(true);
    expect(workersPredateFile(answer('49010 nginx: worker process'))).toBe(false); // 100 ms after: it read the new file
    // old workers finishing their requests do not count; no live worker at all means reload
    expect(
      workersPredateFile(answer('48000 nginx: worker process is shutting down', '49500 nginx: worker process')),
    ).toBe(false);
    expect(workersPredateFile(answer('48000 nginx: cache manager process'))).toBe(true);
    expect(() => workersPredateFile('cat: /run/nginx.pid: No such file')).toThrow(/the clock, the file's mtime/);
  });
});
