// Secrets reach what needs them (the smoke check's server, balancer-manager through curl,
// nsupdate) and nothing else: not an argv, a message, the journal or --json output.
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlWithAuth, managerChangeArgv, managerXmlArgv } from '../../src/balancers/apache-commands.js';
import { ApacheBalancer } from '../../src/balancers/apache.js';
import type { Config } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveSecrets, secretUses } from '../../src/config/secrets.js';
import { openDnsSession } from '../../src/dns/service.js';
import { nsupdateArgv, sendUpdate } from '../../src/dns/nsupdate.js';
import { execute } from '../../src/engine/executor.js';
import { Interrupts } from '../../src/engine/interrupts.js';
import { Journal } from '../../src/engine/journal.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import { openSession } from '../../src/engine/session.js';
import { UserError } from '../../src/errors.js';
import type { StepOf } from '../../src/model/plan.js';
import type { StepEnv } from '../../src/steps/env.js';
import { runSmokeStep } from '../../src/steps/smoke.js';
import { LocalTransport } from '../../src/transport/local.js';
import { RecordingTransports } from '../../src/transport/recording.js';

const API_TOKEN = 'Bearer tok-PLANTED-7f3a9c';
const MANAGER_PASSWORD = 'pw-PLANTED-"q\\uote';
const TSIG_SECRET = 'UExBTlRFRC10c2lnLWtleQ==';
const ENV = {
  BATON_T_API: API_TOKEN,
  BATON_T_MANAGER: MANAGER_PASSWORD,
  BATON_T_DDNS: `hmac-sha256:baton-key:${TSIG_SECRET}`,
};
const PLANTED = [
  API_TOKEN,
  'tok-PLANTED',
  MANAGER_PASSWORD,
  'pw-PLANTED',
  TSIG_SECRET,
  Buffer.from(`baton:${MANAGER_PASSWORD}`).toString('base64'),
];
const XML = readFileSync(join(import.meta.dirname, '../fixtures/apache/manager-web.xml'), 'utf8');

/** Everything a run could show or keep, none of which may hold a planted value. */
function expectNoSecret(...texts: unknown[]): void {
  for (const t of texts) {
    const text = typeof t === 'string' ? t : `${JSON.stringify(t)}\n${inspect(t, { depth: 8 })}`;
    for (const p of PLANTED) expect(text).not.toContain(p);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'baton-secrets-wired-'));
let server: Server;
let port = 0;
const received: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
// /echo answers 500 with the Authorization header in its body, as a careless debug page would.
beforeAll(async () => {
  server = createServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/echo')) res.writeHead(500).end(`you sent ${req.headers.authorization ?? 'nothing'}`);
      else if (req.url?.includes('xml=1')) res.writeHead(200).end(XML);
      else if (req.method === 'POST') res.writeHead(200).end('ok');
      else res.writeHead(200).end('healthy');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function config(): Config {
  const yml = `app: {name: shop, repo: /srv/git/shop, path: /srv/shop, restart: systemctl restart shop}
balancer:
  driver: apache
  host: lb1.example.com
  backend: web
  managerUrl: http://127.0.0.1:${port}/balancer-manager
  managerAuth: {user: baton, password: {secret: manager}}
clusters:
  a: {internal: '127.0.0.1:${port}', hosts: [web-1a.example.com]}
  b: {internal: '127.0.0.1:${port}', hosts: [web-1b.example.com]}
smoke:
  checks:
    - path: /healthz
      requestHeaders: {Authorization: {secret: api}, X-Baton: smoke}
  deadline: 300ms
dns:
  zone: example.com
  nameserver: ns1.example.com
  transitional: new.example.com
  update: {tsigKey: {secret: ddns}}
  migrate:
    site: www.example.com
    old: {host: old.example.com, address: 10.0.0.1, stop: [systemctl, stop, nginx], start: [systemctl, start, nginx]}
    new: {host: new.example.com, address: 10.0.0.2}
secrets:
  api: {env: BATON_T_API}
  manager: {env: BATON_T_MANAGER}
  ddns: {env: BATON_T_DDNS}
`;
  const file = join(dir, 'baton.yml');
  writeFileSync(file, yml);
  const { config: c, issues } = parseConfig(yml, file);
  expect(issues).toEqual([]);
  return c as Config;
}

describe('secrets are read up front', () => {
  it(
    'a release session reads the balancer and smoke secrets, ' + 'and fails before connecting when one is missing',
    async () => {
      const transports = new RecordingTransports();
      const session = await openSession(config(), transports, { env: ENV });
      expect(session.secrets.value({ secret: 'api' })).toBe(API_TOKEN);
      expectNoSecret(session.config);

      const empty = new RecordingTransports();
      const err = await openSession(config(), empty, { env: { BATON_T_API: API_TOKEN } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(64);
      expect((err as UserError).message).toBe(
        'secret `manager` (used by balancer.managerAuth.password): secret {env: BATON_T_MANAGER} is not set',
      );
      expect(empty.calls).toEqual([]);
    },
  );

  it("status reads only the balancer's secret, lock and unlock none", async () => {
    const status = await openSession(config(), new RecordingTransports(), {
      secrets: 'balancer',
      env: { BATON_T_MANAGER: MANAGER_PASSWORD },
    });
    expect(() => status.secrets.value({ secret: 'api' })).toThrow(/was not resolved/);
    const lock = await openSession(config(), new RecordingTransports(), { secrets: 'none', env: {} });
    expect(() => lock.balancer).toThrow(/secret `manager` was not resolved before the run started/);
  });

  it('names every missing secret with every key that uses it', async () => {
    const c = config();
    const err = await resolveSecrets(c, secretUses(c), {}).catch((e: unknown) => e);
    expect((err as UserError).message).toMatch(
      /^3 secrets cannot be read:\n {2}secret `manager` \(used by balancer.managerAuth.password\)/,
    );
    expect((err as UserError).message).toContain('secret `api` (used by smoke.checks[0].requestHeaders.Authorization)');
    expect((err as UserError).message).toContain('secret `ddns` (used by dns.update.tsigKey)');
  });

  it('a DNS session reads only the TSIG key', async () => {
    const s = await openDnsSession(config(), {
      transports: new RecordingTransports(),
      env: { BATON_T_DDNS: ENV.BATON_T_DDNS },
    });
    expect(s.tsig).toEqual({ key: ENV.BATON_T_DDNS });
    await expect(openDnsSession(config(), { transports: new RecordingTransports(), env: {} })).rejects.toThrow(
      /^secret `ddns` \(used by dns.update.tsigKey\)/,
    );
    // dns watch only reads a log: it runs without the key.
    expect(
      (await openDnsSession(config(), { transports: new RecordingTransports(), env: {}, withoutKey: true })).tsig,
    ).toBeUndefined();
  });
});

describe('smoke checks send request headers', () => {
  function env(secrets: StepEnv['secrets']): StepEnv {
    return { config: config(), secrets, endpoints: {} } as unknown as StepEnv;
  }
  const step: StepOf<'smoke'> = { id: 'smoke-a', kind: 'smoke', title: 'smoke a', cluster: 'a', hosts: [], undo: [] };

  it('the server receives the secret; the result and the journal do not hold it', async () => {
    const { secrets } = await openSession(config(), new RecordingTransports(), { env: ENV });
    received.length = 0;
    expect(await runSmokeStep(step, env(secrets))).toEqual({ passed: 1 });
    expect(received[0]?.headers.authorization).toBe(API_TOKEN);
    expect(received[0]?.headers['x-baton']).toBe('smoke');
  });

  it('a failure quoting the secret back is redacted in the message and the journal', async () => {
    const c = config();
    c.smoke.checks = [{ ...c.smoke.checks[0]!, path: '/echo' }];
    const { secrets } = await openSession(c, new RecordingTransports(), { env: ENV });
    const journal = new Journal(join(dir, 'runs'), 'run-1');
    received.length = 0;
    const result = await execute({
      steps: [step],
      run: (s) => runSmokeStep(s as StepOf<'smoke'>, { ...env(secrets), config: c }),
      journal,
      reporter: new SilentReporter(),
      interrupts: new Interrupts(
        () => undefined,
        () => undefined,
      ),
    });
    expect(received.length).toBeGreaterThan(0);
    expect(received.every((r) => r.headers.authorization === API_TOKEN)).toBe(true);
    expect(result.error?.message).toContain('you sent [secret api]');
    expectNoSecret(result.error?.message, readFileSync(journal.file, 'utf8'), result);
  });
});

describe('balancer-manager credentials', () => {
  const auth = { user: 'baton', password: MANAGER_PASSWORD };

  it('go to curl on its stdin, every transfer of a change run, and never into the argv', () => {
    const url = `http://127.0.0.1:${port}/balancer-manager`;
    const run = curlWithAuth(
      managerChangeArgv(url, 'web', 'n0nce', [{ workerUrl: 'http://10.213.7.11:8000', flags: { N: true } }]),
      auth,
    );
    expect(run.argv).toEqual(['curl', '-K', '-']);
    expect(run.stdin.split('\n').filter((l) => l.startsWith('user = '))).toEqual([
      'user = "baton:pw-PLANTED-\\"q\\\\uote"',
      'user = "baton:pw-PLANTED-\\"q\\\\uote"',
    ]);
    expect(run.stdin).toContain('\nnext\n');
  });

  it('a recorded manager request holds them only in stdin', async () => {
    const transports = new RecordingTransports({ responses: [{ match: ['curl'], answer: { stdout: XML } }] });
    const session = await openSession(config(), transports, { env: ENV });
    await session.balancer.members();
    const [call] = transports.calls;
    expect(call).toMatchObject({ kind: 'run', argv: ['curl', '-K', '-'] });
    expectNoSecret(transports.transcript(), transports.runsOn('lb1.example.com'));
    expect(String(call?.kind === 'run' && call.opts.stdin)).toContain(
      MANAGER_PASSWORD.replace(/["\\]/g, (c) => `\\${c}`),
    );
  });

  const hasCurl = execaSync('curl', ['--version'], { reject: false }).exitCode === 0;
  it.runIf(hasCurl)('reach balancer-manager as HTTP Basic auth through a real curl', async () => {
    received.length = 0;
    const balancer = new ApacheBalancer(new LocalTransport(), {
      balancer: 'web',
      managerUrl: `http://127.0.0.1:${port}/balancer-manager`,
      managerAuth: auth,
      configFile: '/nonexistent',
    });
    expect((await balancer.members()).map((m) => m.name)).toEqual(['web1a', 'web2a', 'web1b', 'web2b']);
    const basic = `Basic ${Buffer.from(`baton:${MANAGER_PASSWORD}`).toString('base64')}`;
    expect(received.map((r) => r.headers.authorization)).toEqual([basic]);
    // A change run: every POST and the read-back carry the credentials.
    received.length = 0;
    const run = curlWithAuth(
      managerChangeArgv(`http://127.0.0.1:${port}/balancer-manager`, 'web', 'n', [
        { workerUrl: 'http://a', flags: { N: true } },
        { workerUrl: 'http://b', flags: { D: true } },
      ]),
      auth,
    );
    const r = await new LocalTransport().run(run.argv, { stdin: run.stdin });
    expect(r.stdout.startsWith('200;200;<?xml')).toBe(true);
    expect(received.map((x) => [x.method, x.headers.authorization])).toEqual([
      ['POST', basic],
      ['POST', basic],
      ['GET', basic],
    ]);
    expect(managerXmlArgv('http://x/m', 'web')).not.toContain('-K');
  });
});

describe('the TSIG key', () => {
  it('goes to nsupdate in its script, not on its command line', async () => {
    const transports = new RecordingTransports();
    const local = transports.get('localhost');
    await sendUpdate(
      local,
      { key: ENV.BATON_T_DDNS },
      {
        server: 'ns1.example.com',
        zone: 'example.com',
        name: 'www.example.com',
        ttl: 60,
        from: '10.0.0.1',
        to: '10.0.0.2',
      },
    );
    const [call] = transports.calls;
    expect(call).toMatchObject({ kind: 'run', argv: ['nsupdate'] });
    expect(String(call?.kind === 'run' && call.opts.stdin).split('\n')[0]).toBe(
      `key hmac-sha256:baton-key ${TSIG_SECRET}`,
    );
    expectNoSecret(transports.transcript());
    expect(nsupdateArgv({ keyFile: '/etc/ddns.key' })).toEqual(['nsupdate', '-k', '/etc/ddns.key']);
  });

  it('a refusal quoting the key does not repeat it', async () => {
    const transports = new RecordingTransports({
      responses: [
        { match: ['nsupdate'], answer: { code: 2, stderr: `could not create key from ${TSIG_SECRET}: BADKEY` } },
      ],
    });
    const err = await sendUpdate(
      transports.get('localhost'),
      { key: ENV.BATON_T_DDNS },
      { server: 'ns1', zone: 'example.com', name: 'www', ttl: 60, to: '10.0.0.2' },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toContain('[tsigKey]');
    expectNoSecret((err as Error).message, err);
  });

  it('a key not written as name:secret is refused without quoting it', async () => {
    const err = await sendUpdate(
      new RecordingTransports().get('localhost'),
      { key: 'PLANTED-no-colon' },
      { server: 'ns1', zone: 'example.com', name: 'www', ttl: 60, to: '10.0.0.2' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).not.toContain('PLANTED');
  });
});
