import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApacheBalancer } from '../../src/balancers/apache.js';
import { MemberCountsUnavailable, OperationFailedError, UserError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport } from '../../src/transport/types.js';
import { ScriptedTransport } from '../helpers/scripted-transport.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/apache/${name}`, import.meta.url), 'utf8');
const XML = fixture('manager-web.xml');
const CONF = fixture('baton.conf');
const drained = (xml: string) =>
  xml.replace(
    /(<httpd:name>http:\/\/10\.213\.7\.11:8000<\/httpd:name>[\s\S]*?<httpd:status>)Init Ok /,
    '$1Init Drn Ok ',
  );

const make = (t: Transport) =>
  new ApacheBalancer(t, {
    balancer: 'web',
    managerUrl: 'http://10.213.7.2:8080/balancer-manager',
    configFile: '/etc/apache2/sites-enabled/baton.conf',
  });
const isXmlGet = (argv: readonly string[]) => argv[0] === 'curl' && !argv.includes('--next');

describe('ApacheBalancer', () => {
  it('writes status=+N (validated) before setting Drn through the manager, and reads it back', async () => {
    const t = new ScriptedTransport('lb.example.com', (argv) => {
      if (isXmlGet(argv)) return { stdout: XML };
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh') return {};
      return { stdout: `200;${drained(XML)}` };
    });
    await make(t).drain(['web1a']);
    const kinds = t.calls.map((c) =>
      c.argv[0] === 'sh' ? 'write' : c.argv.includes('--next') ? 'manager' : c.argv[0],
    );
    expect(kinds.slice(2)).toEqual(['write', 'manager']);
    const write = t.calls.find((c) => c.argv[0] === 'sh')!;
    expect(write.argv.slice(-2)).toEqual(['apache2ctl', 'configtest']);
    expect(write.stdin).toContain('BalancerMember http://10.213.7.11:8000 route=web1a status=+N');
    const post = t.calls.find((c) => c.argv.includes('--next'))!;
    expect(post.argv.find((a) => a.startsWith('b=web&'))).toMatch(
      /^b=web&w=http%3A%2F%2F10\.213\.7\.11%3A8000&nonce=[0-9a-f-]+&w_status_N=1&w_status_D=0&w_status_S=0$/,
    );
  });

  it("reads a worker's rest in error state against Apache's clock (the answer's Date), not baton's", async () => {
    const err = XML.replace(
      /(<httpd:name>http:\/\/10\.213\.7\.11:8000<\/httpd:name>[\s\S]*?<httpd:status>)Init Ok <\/httpd:status>/,
      '$1Init Err </httpd:status>\n<httpd:error_time>Mon, 07 Dec 2026 20:42:40 GMT</httpd:error_time>',
    );
    const answer = (date: string) => `HTTP/1.1 200 OK\r\nDate: ${date}\r\nContent-Type: text/xml\r\n\r\n${err}`;
    let date = 'Mon, 07 Dec 2026 20:42:52 GMT';
    const t = new ScriptedTransport('lb.example.com', (argv) => {
      expect(argv.slice(5, 7)).toEqual(['-D', '-']);
      return { stdout: answer(date) };
    });
    const b = make(t);
    expect((await b.members()).find((m) => m.name === 'web1a')).toMatchObject({
      state: 'down',
      healthy: false,
      resting: { leftMs: 49_000, retryMs: 60_000 },
    });
    date = 'Mon, 07 Dec 2026 20:43:41 GMT';
    const after = (await b.members()).find((m) => m.name === 'web1a')!;
    expect(after).toMatchObject({ state: 'ready', healthy: true, status: ['Init', 'Err'] });
    expect(after).not.toHaveProperty('resting');
  });

  it('changes nothing at run time when configtest refuses the edited file', async () => {
    const t = new ScriptedTransport('lb.example.com', (argv) => {
      if (isXmlGet(argv)) return { stdout: XML };
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh') return { code: 97, stderr: 'AH00526: Syntax error on line 30' };
      throw new Error('the manager must not be called');
    });
    const err = await make(t)
      .drain(['web1a'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as OperationFailedError).exitCode).toBe(1);
    expect((err as Error).message).toContain('AH00526: Syntax error on line 30');
    expect(t.calls.some((c) => c.argv.includes('--next'))).toBe(false);
  });

  it('puts the file back when the manager does not take the change', async () => {
    const t = new ScriptedTransport('lb.example.com', (argv) => {
      if (isXmlGet(argv)) return { stdout: XML };
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh') return {};
      return { stdout: `200;${XML}` };
    });
    await expect(make(t).drain(['web1a'])).rejects.toThrow(/did not take state drain: web1a: reads back ready/);
    const writes = t.calls.filter((c) => c.argv[0] === 'sh');
    expect(writes).toHaveLength(2);
    expect(writes[1]!.stdin).toBe(CONF);
  });

  it('caps busy by the connections Apache holds to the member (busy can drift)', async () => {
    const xml = XML.replace('<httpd:busy>0</httpd:busy>', '<httpd:busy>1</httpd:busy>');
    const held = '0 0 10.213.7.2:40000 10.213.7.11:8000 users:(("apache2",pid=7,fd=9))\n';
    const t = new ScriptedTransport('lb.example.com', (argv) => (argv[0] === 'ss' ? { stdout: '' } : { stdout: xml }));
    expect(await make(t).sessions(['web1a'])).toEqual({ web1a: 0 });
    const t2 = new ScriptedTransport('lb.example.com', (argv) =>
      argv[0] === 'ss' ? { stdout: held } : { stdout: xml },
    );
    expect(await make(t2).sessions(['web1a'])).toEqual({ web1a: 1 });
  });

  it('samples members (busy capped by held connections) and elections, without scanning the error log', async () => {
    const t = new ScriptedTransport('lb.example.com', (argv) => (argv[0] === 'ss' ? { stdout: '' } : { stdout: XML }));
    const read = await make(t).sample();
    expect(read.members).toHaveLength(4);
    expect(read.members.every((m) => m.sessions === 0)).toBe(true);
    expect(read).toMatchObject({ requests: 8 });
    expect(read).not.toHaveProperty('http5xx');
    expect(t.calls.map((c) => c.argv[0])).toEqual(['curl', 'ss']);
  });

  it('refuses to cut sessions off, naming why', async () => {
    await expect(make(new ScriptedTransport('lb.example.com', () => ({}))).cutOff(['web1a'])).rejects.toThrow(
      /no per-member cut-off/,
    );
  });
});

describe('ApacheBalancer weights', () => {
  /** The manager's XML with these load factors (both of each worker's loadfactor elements). */
  const weighed = (xml: string, lf: Record<string, number>) =>
    xml.replace(/<httpd:worker>[\s\S]*?<\/httpd:worker>/g, (w) => {
      const route = /<httpd:route>([^<]*)</.exec(w)?.[1] ?? '';
      return lf[route] === undefined ? w : w.replace(/<httpd:loadfactor>[^<]*</g, `<httpd:loadfactor>${lf[route]}.00<`);
    });
  const host = (after: (stdin: string) => string) =>
    new ScriptedTransport('lb.example.com', (argv, stdin) => {
      if (isXmlGet(argv)) return { stdout: XML };
      if (argv[0] === 'cat') return { stdout: CONF };
      if (argv[0] === 'sh') return {};
      return { stdout: `200;200;${after(stdin)}` };
    });

  it('reads the load factor of each worker of the balancer, by member name', async () => {
    const t = new ScriptedTransport('lb.example.com', () => ({ stdout: weighed(XML, { web1b: 19 }) }));
    expect(await make(t).weights()).toEqual({ web1a: 1, web2a: 1, web1b: 19, web2b: 1 });
  });

  it('writes loadfactor= (validated), then sets w_lf through the manager and reads it back', async () => {
    const t = host(() => weighed(XML, { web1b: 19, web2b: 19 }));
    await make(t).setWeights({ web1b: 19, web2b: 19 });
    const write = t.calls.find((c) => c.argv[0] === 'sh')!;
    expect(write.argv.slice(-2)).toEqual(['apache2ctl', 'configtest']);
    expect(write.stdin).toContain('BalancerMember http://10.213.7.41:8000 route=web1b loadfactor=19\n');
    expect(write.stdin).toContain('BalancerMember http://10.213.7.42:8000 route=web2b loadfactor=19\n');
    const post = t.calls.find((c) => c.argv.includes('--next'))!;
    expect(post.argv.filter((a) => a.startsWith('b=web&'))).toEqual([
      expect.stringMatching(/^b=web&w=http%3A%2F%2F10\.213\.7\.41%3A8000&nonce=[0-9a-f-]+&w_lf=19$/),
      expect.stringMatching(/^b=web&w=http%3A%2F%2F10\.213\.7\.42%3A8000&nonce=[0-9a-f-]+&w_lf=19$/),
    ]);
  });

  it('puts the file back and names the member when the manager keeps another load factor', async () => {
    const t = host(() => weighed(XML, { web1b: 19 }));
    await expect(make(t).setWeights({ web1b: 19, web2b: 19 })).rejects.toThrow(
      'apache on lb.example.com: balancer web did not take the load factors: web2b: reads back 1',
    );
    const writes = t.calls.filter((c) => c.argv[0] === 'sh');
    expect(writes).toHaveLength(2);
    expect(writes[1]!.stdin).toBe(CONF);
  });

  it(
    'refuses a load factor out of 1-100 and a member ' + 'the balancer does not have, before changing anything',
    async () => {
      const t = host(() => XML);
      for (const w of [0, 101, 2.5]) {
        const err = await make(t)
          .setWeights({ web1b: w })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toBe(
          `apache balancer web on lb.example.com takes weights from 1 to 100 (whole numbers), not web1b ${w}`,
        );
      }
      await expect(make(t).setWeights({ web1b: 2, web7c: 2 })).rejects.toThrow(
        'apache balancer web on lb.example.com has no member web7c: members are web1a, web2a, web1b, web2b',
      );
      expect(t.calls.filter((c) => c.argv[0] === 'sh' || c.argv.includes('--next'))).toEqual([]);
    },
  );

  it('refuses a balancer whose lbmethod does not share requests by load factor (bybusyness)', async () => {
    const busy = XML.replace(/<httpd:lbmethod>byrequests</g, '<httpd:lbmethod>bybusyness<');
    const t = new ScriptedTransport('lb.example.com', (argv) =>
      argv[0] === 'cat' ? { stdout: CONF } : { stdout: busy },
    );
    const err = await make(t)
      .setWeights({ web1b: 19 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      'apache balancer web on lb.example.com uses lbmethod=bybusyness, ' +
        'which does not share requests by load factor: a weight would not set a share',
    );
    expect(t.calls.filter((c) => c.argv[0] === 'sh' || c.argv.includes('--next'))).toEqual([]);
  });
});

describe('ApacheBalancer per-member counts', () => {
  // The access-log script runs for real on this machine; the manager's answers are the fixture.
  function host(): { t: Transport; log: string } {
    const log = join(mkdtempSync(join(tmpdir(), 'baton-apache-log-')), 'public.log');
    writeFileSync(log, '');
    const local = new LocalTransport();
    const manager = new ScriptedTransport('lb.example.com', () => ({ stdout: XML }));
    return {
      log,
      t: {
        host: 'lb.example.com',
        run: (argv, opts) => (argv[0] === 'sh' ? local.run(argv, opts) : manager.run(argv, opts)),
        upload: async () => {},
        download: async () => {},
      },
    };
  }
  const line = (status: number, worker?: string) =>
    `10.213.7.1 - - [27/Nov/2026:22:00:00 +0000] "GET / HTTP/1.1" ${status} 42 "-" "load"` +
    (worker === undefined ? '' : ` upstream="${worker}"`) +
    '\n';
  const withLog = (t: Transport, accessLog: string) =>
    new ApacheBalancer(t, {
      balancer: 'web',
      managerUrl: 'http://10.213.7.2:8080/balancer-manager',
      configFile: '/etc/apache2/sites-enabled/baton.conf',
      accessLog,
    });

  it('counts each line for the worker its BALANCER_WORKER_NAME names, by route', async () => {
    const { t, log } = host();
    const b = withLog(t, log);
    expect(await b.memberCounters?.()).toEqual({});
    appendFileSync(
      log,
      line(200, 'http://10.213.7.11:8000') +
        line(500, 'http://10.213.7.11:8000') +
        line(200, 'HTTP://10.213.7.41:8000/') +
        line(503, 'http://10.213.7.99:8000'),
    );
    expect(await b.memberCounters?.()).toEqual({
      web1a: { requests: 2, http5xx: 1 },
      web1b: { requests: 1, http5xx: 0 },
    });
    // Its log names only the worker that answered: no failed attempts, and the canary does not judge them.
    expect(b.countsFailedAttempts).toBe(false);
  });

  it('says in one sentence that its lines name no worker, and offers no counts without an access log', async () => {
    const { t, log } = host();
    const b = withLog(t, log);
    await b.memberCounters?.();
    appendFileSync(log, line(200) + line(500));
    const refused = await b.memberCounters?.().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MemberCountsUnavailable);
    expect((refused as Error).message).toBe(
      `the access log ${log} on lb.example.com does not end its lines with ` +
        'upstream="%{BALANCER_WORKER_NAME}e", so baton cannot tell which member answered them',
    );
    expect(make(t).memberCounters).toBeUndefined();
  });
});
