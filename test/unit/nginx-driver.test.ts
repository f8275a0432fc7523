import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NginxBalancer } from '../../src/balancers/nginx.js';
import { OperationFailedError, UserError } from '../../src/errors.js';
import type { Transport } from '../../src/transport/types.js';
import { ScriptedTransport } from '../helpers/scripted-transport.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/nginx/${name}`, import.meta.url), 'utf8');
const CONF = fixture('baton-upstream.conf');

const make = (lb: Transport, app?: Transport) =>
  new NginxBalancer(lb, {
    upstream: 'web',
    upstreamFile: '/etc/nginx/baton-upstream.conf',
    appTransport: async () => app ?? lb,
    reloadTimeoutMs: 500,
  });

describe('NginxBalancer', () => {
  it('marks down, validates, reloads and returns once new workers run and the old one shuts down', async () => {
    let reloaded = false;
    const lb = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh' && argv.includes('/run/nginx.pid'))
        return {
          stdout: reloaded
            ? 'master 1\n 3 nginx: worker process\n 2 nginx: worker process is shutting down\n'
            : 'master 1\n 2 nginx: worker process\n',
        };
      if (argv[0] === 'sh') return {};
      if (argv.includes('reload')) reloaded = true;
      return {};
    });
    await make(lb).drain(['web2b']);
    const write = lb.calls.find((c) => c.argv[0] === 'sh' && c.stdin !== undefined)!;
    // The test and the reload are raised through sudo -n (root's transport drops the prefix).
    expect(write.argv.slice(-5)).toEqual(['sudo', '-n', '--', 'nginx', '-t']);
    expect(write.stdin).toContain('    server 10.213.7.42:8000 down;  # web2b');
    expect(lb.calls.filter((c) => c.argv.includes('reload')).map((c) => c.argv.join(' '))).toEqual([
      'sudo -n -- nginx -s reload',
    ]);
  });

  it('reloads nothing when nginx -t refuses the file', async () => {
    const lb = new ScriptedTransport('lb', (argv, stdin) => {
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh' && stdin !== '') return { code: 97, stderr: 'nginx: [emerg] unknown directive "baton_x"' };
      if (argv[0] === 'sh') return { stdout: 'master 1\n 2 nginx: worker process\n' };
      throw new Error(`unexpected ${argv.join(' ')}`);
    });
    const err = await make(lb)
      .drain(['web1a'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toContain('unknown directive "baton_x"');
  });

  it('puts the file back when the reload does not start new workers', async () => {
    const lb = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh' && argv.includes('/run/nginx.pid'))
        return { stdout: 'master 1\n 2 nginx: worker process\n' };
      return {};
    });
    await expect(make(lb).drain(['web1a'])).rejects.toThrow(/no new workers after 500 ms/);
    const writes = lb.calls.filter((c) => c.stdin !== undefined);
    expect(writes.at(-1)!.stdin).toBe(CONF);
  });

  it('counts in-flight connections on the host itself, leaving out what other balancer processes own', async () => {
    const lbSs = `${fixture('lb-ss-web2b.txt')}0 0 10.213.7.2:40000 10.213.7.42:8000 users:(("haproxy",pid=5,fd=3))\n`;
    const appSs = `${fixture('app-ss-web2b.txt')}0 0 10.213.7.42:8000 10.213.7.2:40000\n0 0 10.213.7.42:8000 10.213.7.1:50000\n`;
    const lb = new ScriptedTransport('lb', (argv) =>
      argv[0] === 'cat' ? { stdout: CONF } : argv[0] === 'hostname' ? { stdout: '10.213.7.2 \n' } : { stdout: lbSs },
    );
    const app = new ScriptedTransport('web-2.prod-b', () => ({ stdout: appSs }));
    expect(await make(lb, app).sessions(['web2b'])).toEqual({ web2b: 5 });
    expect(app.calls[0]!.argv).toEqual(['ss', '-Htin', 'state', 'established', '( sport = :8000 )']);
  });

  it('as a deploy user (ss shows no processes), counts only the connections that carry a request, whoever keeps them open', async () => {
    // Two pooled connections idle for 40 s (a backend keeping them for a minute), one request held for 1.5 s.
    const lbSs = [
      '0 0 10.213.7.2:40000 10.213.7.42:8000',
      '\t bytes_sent:90 bytes_received:400 lastsnd:40100 lastrcv:40096',
    ].join('\n');
    const appSs = [
      '0 0 10.213.7.42:8000 10.213.7.2:40000',
      '\t bytes_sent:400 bytes_received:90 lastsnd:40096 lastrcv:40100',
      '0 0 10.213.7.42:8000 10.213.7.2:40002',
      '\t bytes_sent:800 bytes_received:180 lastsnd:40990 lastrcv:41000',
      '0 0 10.213.7.42:8000 10.213.7.2:40004',
      '\t bytes_sent:400 bytes_received:180 lastsnd:9000 lastrcv:1500',
    ].join('\n');
    const lb = new ScriptedTransport('lb', (argv) =>
      argv[0] === 'cat' ? { stdout: CONF } : argv[0] === 'hostname' ? { stdout: '10.213.7.2 \n' } : { stdout: lbSs },
    );
    const app = new ScriptedTransport('web-2.prod-b', () => ({ stdout: appSs }));
    expect(await make(lb, app).sessions(['web2b'])).toEqual({ web2b: 1 });
  });

  it('reports down as drain and no health it does not have', async () => {
    const lb = new ScriptedTransport('lb', (argv) =>
      argv[0] === 'cat' ? { stdout: CONF.replace('10.213.7.11:8000;', '10.213.7.11:8000 down;') } : { stdout: '' },
    );
    const members = await make(lb).members();
    expect(members.map((m) => `${m.name}=${m.state}`)).toEqual([
      'web1a=drain',
      'web2a=ready',
      'web1b=ready',
      'web2b=ready',
    ]);
    expect(members.every((m) => m.healthy === undefined)).toBe(true);
  });

  it('samples members without counts when nginx keeps none, and never scans the error log', async () => {
    const lb = new ScriptedTransport('lb', (argv) => (argv[0] === 'cat' ? { stdout: CONF } : { stdout: '' }));
    const read = await make(lb).sample();
    expect(read.members.map((m) => m.name)).toEqual(['web1a', 'web2a', 'web1b', 'web2b']);
    expect(read).not.toHaveProperty('requests');
    expect(read).not.toHaveProperty('http5xx');
    expect(lb.calls.map((c) => c.argv[0])).toEqual(['cat', 'ss']);
  });

  it("samples stub_status's request total beside the members", async () => {
    const status =
      'Active connections: 3 \nserver accepts handled requests\n 10 10 42 \nReading: 0 Writing: 1 Waiting: 2 \n';
    const lb = new ScriptedTransport('lb', (argv) =>
      argv[0] === 'cat' ? { stdout: CONF } : argv[0] === 'curl' ? { stdout: status } : { stdout: '' },
    );
    const nginx = new NginxBalancer(lb, {
      upstream: 'web',
      upstreamFile: '/etc/nginx/baton-upstream.conf',
      statusUrl: 'http://127.0.0.1/status',
      appTransport: async () => lb,
    });
    expect(await nginx.sample()).toMatchObject({ requests: 42 });
    expect(lb.calls.map((c) => c.argv[0]).sort()).toEqual(['cat', 'curl', 'ss']);
  });

  it('switches the pool in one edit and one reload: cluster a back in, cluster b out', async () => {
    let reloaded = false;
    const lb = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'cat')
        return {
          stdout: CONF.replace('10.213.7.11:8000;', '10.213.7.11:8000 down;').replace(
            '10.213.7.12:8000;',
            '10.213.7.12:8000 down;',
          ),
        };
      if (argv[0] === 'sh' && argv.includes('/run/nginx.pid'))
        return {
          stdout: reloaded
            ? 'master 1\n 3 nginx: worker process\n 2 nginx: worker process is shutting down\n'
            : 'master 1\n 2 nginx: worker process\n',
        };
      if (argv.includes('reload')) reloaded = true;
      return {};
    });
    await make(lb).switchPool(['web1a', 'web2a'], ['web1b', 'web2b']);
    const writes = lb.calls.filter((c) => c.stdin !== undefined);
    expect(writes).toHaveLength(1);
    const web = writes[0]!.stdin!.split('}')[0]!;
    expect(web).toContain('server 10.213.7.11:8000;  # web1a');
    expect(web).toContain('server 10.213.7.12:8000;  # web2a');
    expect(web).toContain('server 10.213.7.41:8000 down;  # web1b');
    expect(web).toContain('server 10.213.7.42:8000 down;  # web2b');
    expect(lb.calls.filter((c) => c.argv.includes('reload')).map((c) => c.argv.join(' '))).toEqual([
      'sudo -n -- nginx -s reload',
    ]);
  });

  it('leaves nginx alone when the file already says so and the running workers started after it changed', async () => {
    const lb = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh' && argv.includes('/etc/nginx/baton-upstream.conf'))
        return { stdout: '1000.0\n900.0\n500.00\n100\n45000 nginx: worker process\n' };
      throw new Error(`unexpected ${argv.join(' ')}`);
    });
    await make(lb).ready(['web1a']);
    expect(lb.calls.map((c) => c.argv[0])).toEqual(['cat', 'sh']);
  });

  it('reloads without writing when the file already says so but the running workers predate it (killed between write and reload)', async () => {
    let reloaded = false;
    const lb = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh' && argv.includes('/etc/nginx/baton-upstream.conf'))
        return { stdout: '1000.0\n990.0\n500.00\n100\n48000 nginx: worker process\n' };
      if (argv[0] === 'sh' && argv.includes('/run/nginx.pid'))
        return { stdout: reloaded ? 'master 1\n 3 nginx: worker process\n' : 'master 1\n 2 nginx: worker process\n' };
      if (argv.includes('reload')) reloaded = true;
      return {};
    });
    await make(lb).ready(['web1a']);
    expect(lb.calls.filter((c) => c.stdin !== undefined)).toEqual([]);
    expect(lb.calls.filter((c) => c.argv.includes('reload')).map((c) => c.argv.join(' '))).toEqual([
      'sudo -n -- nginx -s reload',
    ]);
  });
});

describe('NginxBalancer (mode: file) weights', () => {
  it('refuses to weigh members, saying why and what to use, before running anything', async () => {
    const lb = new ScriptedTransport('lb', () => ({ stdout: CONF }));
    const b = make(lb);
    expect(b.weighing()).toEqual({
      can: false,
      reason:
        'nginx in mode: file cannot weigh members; use mode: lua (in mode: file every change is a reload, which a canary step would repeat)',
    });
    const err = await b.setWeights({ web1a: 1, web1b: 19 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /^nginx upstream web on lb: nginx in mode: file cannot weigh members; use mode: lua/,
    );
    expect(lb.calls).toEqual([]);
  });

  it('reads the weight= of each server line, 1 where it has none', async () => {
    const conf = CONF.replace('server 10.213.7.41:8000;', 'server 10.213.7.41:8000 weight=19 max_fails=2;');
    const lb = new ScriptedTransport('lb', () => ({ stdout: conf }));
    expect(await make(lb).weights()).toEqual({ web1a: 1, web2a: 1, web1b: 19, web2b: 1 });
  });
});
