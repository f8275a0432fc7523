import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBalancer } from '../../src/balancers/index.js';
import { NginxLuaBalancer } from '../../src/balancers/nginx-lua.js';
import {
  CHANGED_MEANWHILE,
  ControlRefusal,
  controlGetArgv,
  controlReloadArgv,
  noReadyMemberPattern,
  parseControlAnswer,
  parseLuaState,
  parseLuaStateRead,
  readLuaStateArgv,
  renderLuaState,
  setLuaStates,
  setLuaWeights,
  writeLuaStateArgv,
} from '../../src/balancers/nginx-lua-state.js';
import { MemberCountsUnavailable, OperationFailedError, UserError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport } from '../../src/transport/types.js';
import { ScriptedTransport } from '../helpers/scripted-transport.js';

const STATE = {
  web: [
    { name: 'web1a', address: '10.213.7.11', port: 8000, state: 'ready' as const },
    { name: 'web1b', address: '10.213.7.21', port: 8000, state: 'ready' as const },
  ],
  prod_a: [{ name: 'web1a', address: '10.213.7.11', port: 8000, state: 'ready' as const }],
};
const TEXT = renderLuaState(STATE);
const SHA = createHash('sha256').update(TEXT).digest('hex');
const URL_ = 'http://127.0.0.1:8089/baton';

const readBack = (states: Record<string, string>) =>
  JSON.stringify({
    upstream: 'web',
    loadedAt: 1,
    members: STATE.web.map((m) => ({ ...m, state: states[m.name] ?? m.state, inflight: 0 })),
  });

/** A balancer host whose state file is TEXT and whose Lua side loads what was written. */
function balancerHost(opts: { loads?: Record<string, string>; writeCode?: number; file?: string } = {}) {
  let written: string | undefined;
  const lb = new ScriptedTransport('lb', (argv, stdin) => {
    // readLuaStateArgv: sh -c SCRIPT sh FILE; writeLuaStateArgv adds the version read
    if (argv[0] === 'sh' && argv.length === 5) return { stdout: opts.file ?? `present ${SHA}\n${TEXT}` };
    if (argv[0] === 'sh') {
      written = stdin;
      return { code: opts.writeCode ?? 0 };
    }
    if (argv[0] === 'curl' && argv.includes('POST')) {
      const states =
        opts.loads ??
        Object.fromEntries((JSON.parse(written ?? TEXT) as typeof STATE).web.map((m) => [m.name, m.state]));
      return { stdout: readBack(states) };
    }
    if (argv[0] === 'curl') return { stdout: readBack({}) };
    return {};
  });
  return {
    lb,
    written: () => written,
    balancer: new NginxLuaBalancer(lb, { upstream: 'web', appTransport: async () => lb }),
  };
}

describe('the state file', () => {
  it('is checked as the Lua side checks it', () => {
    expect(parseLuaState(TEXT)).toEqual(STATE);
    expect(() =>
      parseLuaState('{"web": [{"name": "a", "address": "10.0.0.1", "port": 80, "state": "maint"}]}'),
    ).toThrow(/member 1 \(a\): state must be ready or drain/);
    expect(() =>
      parseLuaState('{"web": [{"name": "a b", "address": "10.0.0.1", "port": 80, "state": "ready"}]}'),
    ).toThrow(/name must be letters/);
    expect(() =>
      parseLuaState('{"web": [{"name": "a", "address": "$(reboot)", "port": 80, "state": "ready"}]}'),
    ).toThrow(/address must be/);
    expect(() => parseLuaState('{"web": [{"name": "a", "address": "10.0.0.1", "port": 0, "state": "ready"}]}')).toThrow(
      /port must be 1-65535/,
    );
    expect(() => parseLuaState('[]')).toThrow(/expected an object of upstreams/);
    expect(() => parseLuaState('{')).toThrow(/not JSON/);
  });

  it('changes only the named members of the one upstream, and says which names it lacks', () => {
    const r = setLuaStates(STATE, 'web', ['web1b'], ['web1a', '10.213.7.21:8000', 'nope']);
    expect(r.missing).toEqual(['nope']);
    expect(r.changed).toBe(true);
    expect(r.state.web!.map((m) => m.state)).toEqual(['drain', 'drain']); // by name, then by address:port
    expect(r.state.prod_a).toEqual(STATE.prod_a);
    expect(STATE.web[0]!.state).toBe('ready'); // the input is not touched
    expect(setLuaStates(STATE, 'web', ['web1a'], []).changed).toBe(false);
  });

  it('is read with its SHA-256 and written only if still the same, by rename', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-lua-state-'));
    const file = join(dir, 'state.json');
    const local = new LocalTransport();
    const run = (argv: string[], stdin?: string) =>
      local.run(argv, { allowFailure: true, ...(stdin !== undefined ? { stdin } : {}) });
    try {
      expect(parseLuaStateRead((await run(readLuaStateArgv(file))).stdout)).toEqual({ version: 'missing' });
      expect((await run(writeLuaStateArgv(file, 'missing'), TEXT)).code).toBe(0);
      expect(parseLuaStateRead((await run(readLuaStateArgv(file))).stdout)).toEqual({ version: SHA, text: TEXT });
      writeFileSync(file, `${TEXT} `); // someone else's edit
      expect((await run(writeLuaStateArgv(file, SHA), '{}\n')).code).toBe(CHANGED_MEANWHILE);
      expect(readFileSync(file, 'utf8')).toBe(`${TEXT} `);
      expect((await run(writeLuaStateArgv(file, 'missing'), '{}\n')).code).toBe(CHANGED_MEANWHILE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never puts a value into the script text', () => {
    const argv = writeLuaStateArgv('/etc/nginx/x $(id).json', SHA);
    expect(argv.slice(-2)).toEqual(['/etc/nginx/x $(id).json', SHA]);
    expect(argv[2]).not.toContain('$(id)');
    expect(() => writeLuaStateArgv('relative.json', SHA)).toThrow(UserError);
    expect(() => writeLuaStateArgv('/x', '; rm -rf /')).toThrow(/bad state-file version/);
  });
});

describe('the control endpoint', () => {
  it('is called with curl argv, the POST body on stdin', () => {
    expect(controlGetArgv(URL_, 'web')).toEqual(['curl', '-sS', '-m', '5', '--fail-with-body', `${URL_}?upstream=web`]);
    const post = controlReloadArgv(URL_, 'web');
    expect(post.argv.slice(-4)).toEqual(['Content-Type: application/json', '--data-binary', '@-', URL_]);
    expect(JSON.parse(post.stdin)).toEqual({ upstream: 'web', reload: true });
    expect(() => controlGetArgv(URL_, 'web&x=1')).toThrow(UserError);
    expect(() => controlGetArgv('file:///etc/passwd', 'web')).toThrow(/not an http\(s\) URL/);
  });

  it('answers members with in-flight counts, or a refusal', () => {
    expect(
      parseControlAnswer(readBack({ web1a: 'drain' }), 'web').members.map((m) => `${m.name}=${m.state}/${m.inflight}`),
    ).toEqual(['web1a=drain/0', 'web1b=ready/0']);
    expect(parseControlAnswer('{"upstream":"web","members":{}}', 'web').members).toEqual([]); // an empty Lua table
    expect(() => parseControlAnswer('{"error":"no upstream web is loaded"}', 'web')).toThrow(ControlRefusal);
    expect(() => parseControlAnswer(readBack({}), 'api')).toThrow(/answered for upstream "web", not api/);
    expect(() => parseControlAnswer('<html>502</html>', 'web')).toThrow(/expected JSON/);
  });

  it('has its no-ready-member 502s counted from the error log', () => {
    expect(
      new RegExp(noReadyMemberPattern('prod.a')).test(
        '[lua] baton_balancer.lua:280: balance(): baton: upstream prod.a has no ready member while connecting',
      ),
    ).toBe(true);
    expect(new RegExp(noReadyMemberPattern('prod.a')).test('baton: upstream prodXa has no ready member')).toBe(false);
  });
});

describe('NginxLuaBalancer', () => {
  it(
    'drains by writing the whole file (as read, ' + 'only if unchanged), loading it, and checking the read-back',
    async () => {
      const { lb, written, balancer } = balancerHost();
      await balancer.drain(['web1b']);
      const write = lb.calls.find((c) => c.stdin !== undefined && c.argv[0] === 'sh')!;
      expect(write.argv.slice(-1)).toEqual([SHA]);
      expect(JSON.parse(written()!)).toEqual({ ...STATE, web: [STATE.web[0], { ...STATE.web[1], state: 'drain' }] });
      const post = lb.calls.find((c) => c.argv.includes('POST'))!;
      expect(JSON.parse(post.stdin!)).toEqual({ upstream: 'web', reload: true });
      expect(lb.calls.map((c) => c.argv[0])).toEqual(['sh', 'sh', 'curl']);
    },
  );

  it('switches the pool in one write and one load', async () => {
    const { lb, written, balancer } = balancerHost();
    await balancer.switchPool(['web1a'], ['web1b']);
    expect(lb.calls.filter((c) => c.stdin !== undefined && c.argv[0] === 'sh')).toHaveLength(1);
    expect(lb.calls.filter((c) => c.argv.includes('POST'))).toHaveLength(1);
    expect((JSON.parse(written()!) as typeof STATE).web.map((m) => m.state)).toEqual(['ready', 'drain']);
  });

  it('loads the file again even when it already says so (a run killed before the load)', async () => {
    const { lb, balancer } = balancerHost();
    await balancer.ready(['web1a']);
    expect(lb.calls.map((c) => (c.argv.includes('POST') ? 'POST' : c.argv[0]))).toEqual(['sh', 'POST']);
  });

  it('fails naming each member the read-back does not show as asked', async () => {
    const { balancer } = balancerHost({ loads: { web1a: 'ready', web1b: 'ready' } });
    const err = await balancer.drain(['web1b']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as Error).message).toMatch(/did not take the change \(web1b drain\): web1b: reads back ready/);
  });

  it('puts the file back when the Lua side cannot load it', async () => {
    const writes: string[] = [];
    const lb = new ScriptedTransport('lb', (argv, stdin) => {
      if (argv[0] === 'sh' && argv.length === 5) return { stdout: `present ${SHA}\n${TEXT}` };
      if (argv[0] === 'sh') {
        writes.push(`${argv[5]} ${stdin}`);
        return {};
      }
      return { code: 7, stderr: 'curl: (7) Failed to connect to 127.0.0.1 port 8089' };
    });
    const err = await new NginxLuaBalancer(lb, { upstream: 'web', appTransport: async () => lb })
      .drain(['web1b'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationFailedError);
    expect((err as OperationFailedError).message).toMatch(/did not load upstream web .*Failed to connect/);
    expect((err as OperationFailedError).hint).toMatch(/was put back as it was/);
    expect(writes).toHaveLength(2);
    const drained = renderLuaState({ ...STATE, web: [STATE.web[0]!, { ...STATE.web[1]!, state: 'drain' }] });
    // only over what baton wrote
    expect(writes[1]).toBe(`${createHash('sha256').update(drained).digest('hex')} ${TEXT}`);
  });

  it('writes nothing when someone changed the file meanwhile', async () => {
    const { lb, balancer } = balancerHost({ writeCode: CHANGED_MEANWHILE });
    await expect(balancer.drain(['web1b'])).rejects.toThrow(/changed between baton reading and writing it/);
    expect(lb.calls.some((c) => c.argv.includes('POST'))).toBe(false);
  });

  it('says what to write when the state file does not exist', async () => {
    const { balancer } = balancerHost({ file: 'missing\n' });
    const err = await balancer.drain(['web1b']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).hint).toMatch(
      new RegExp(
        /write \/etc\/nginx\/baton-upstreams\.json on lb with every member of upstream web \(see /.source +
          /templates\/nginx\/baton-upstreams\.example\.json\)/.source,
      ),
    );
  });

  it('refuses to cut requests off: only a reload would', async () => {
    const { balancer } = balancerHost();
    await balancer.cutOff([]);
    await expect(balancer.cutOff(['web1a'])).rejects.toThrow(UserError);
  });

  it("takes the larger of the Lua in-flight count and the connections on the member's host", async () => {
    const lb = new ScriptedTransport('lb', (argv) => {
      if (argv[0] === 'curl')
        return {
          stdout: JSON.stringify({
            upstream: 'web',
            members: [
              { ...STATE.web[0], inflight: 3 },
              { ...STATE.web[1], inflight: 0 },
            ],
          }),
        };
      if (argv[0] === 'hostname') return { stdout: '10.213.7.2\n' };
      return { stdout: '' }; // ss on the balancer: nothing
    });
    const app = new ScriptedTransport('app', () => ({
      stdout: '0 0 10.213.7.21:8000 10.213.7.2:40000\n0 0 10.213.7.21:8000 10.213.7.2:40001\n',
    }));
    const balancer = new NginxLuaBalancer(lb, { upstream: 'web', appTransport: async () => app });
    expect(await balancer.sessions(['web1a', 'web1b'])).toEqual({ web1a: 3, web1b: 2 });
  });

  it('is what createBalancer makes for mode: lua', () => {
    const base = {
      driver: 'nginx' as const,
      host: 'lb',
      backend: 'web',
      drainTimeout: 1,
      cutOffAfterDrainTimeout: false,
      nginx: 'nginx',
      pidFile: '/run/nginx.pid',
      errorLog: '/var/log/nginx/error.log',
    };
    const hosts = { get: () => new LocalTransport() };
    const clusters = { a: { internal: 'a', hosts: [] }, b: { internal: 'b', hosts: [] } } as never;
    expect(
      createBalancer({ balancer: { ...base, mode: 'lua' }, clusters }, new LocalTransport(), hosts),
    ).toBeInstanceOf(NginxLuaBalancer);
    expect(
      createBalancer(
        { balancer: { ...base, mode: 'file', upstreamFile: '/etc/nginx/up.conf' }, clusters },
        new LocalTransport(),
        hosts,
      ),
    ).not.toBeInstanceOf(NginxLuaBalancer);
  });
});

describe('weights in the state file', () => {
  it('are checked as the Lua side checks them: absent is 1, else a whole number 1-256', () => {
    const weighed = renderLuaState({ web: [{ ...STATE.web[0]!, weight: 19 }] });
    expect(parseLuaState(weighed).web).toEqual([{ ...STATE.web[0], weight: 19 }]);
    expect(parseLuaState(TEXT).web![0]).not.toHaveProperty('weight');
    for (const w of ['0', '257', '1.5', '"2"'])
      expect(() =>
        parseLuaState(`{"web": [{"name": "a", "address": "10.0.0.1", "port": 80, "state": "ready", "weight": ${w}}]}`),
      ).toThrow(/member 1 \(a\): weight must be a whole number 1-256/);
  });

  it('change only the named members of the one upstream, keep their states, and say which names they lack', () => {
    const r = setLuaWeights(STATE, 'web', [
      ['web1a', 1],
      ['10.213.7.21:8000', 19],
      ['nope', 2],
    ]);
    expect(r.missing).toEqual(['nope']);
    expect(r.changed).toBe(true);
    expect(r.state.web).toEqual([STATE.web[0], { ...STATE.web[1], weight: 19 }]); // 1 is what no weight means
    expect(r.state.prod_a).toEqual(STATE.prod_a);
    expect(setLuaWeights(r.state, 'web', [['web1b', 19]]).changed).toBe(false);
    expect(
      parseControlAnswer(
        JSON.stringify({ upstream: 'web', members: r.state.web!.map((m) => ({ ...m, inflight: 0 })) }),
        'web',
      ).members.map((m) => m.weight),
    ).toEqual([undefined, 19]);
  });
});

describe('NginxLuaBalancer weights', () => {
  /** A balancer host whose Lua side loads what was written and reports weights, unless it is older than them. */
  function weighingHost(opts: { old?: boolean; keeps?: boolean } = {}) {
    let file = TEXT;
    let loaded = TEXT;
    const lb = new ScriptedTransport('lb', (argv, stdin) => {
      if (argv[0] === 'sh' && argv.length === 5)
        return { stdout: `present ${createHash('sha256').update(file).digest('hex')}\n${file}` };
      if (argv[0] === 'sh') {
        file = stdin;
        return {};
      }
      if (argv.includes('POST') && !opts.keeps) loaded = file;
      const members = (JSON.parse(loaded) as typeof STATE).web.map((m) => ({
        ...m,
        ...(opts.old ? {} : { weight: (m as { weight?: number }).weight ?? 1 }),
        inflight: 0,
      }));
      return { stdout: JSON.stringify({ upstream: 'web', members }) };
    });
    return {
      lb,
      file: () => file,
      balancer: new NginxLuaBalancer(lb, { upstream: 'web', appTransport: async () => lb }),
    };
  }

  it('writes the weights into the state file, loads it and reads them back', async () => {
    const { lb, file, balancer } = weighingHost();
    await balancer.setWeights({ web1a: 1, web1b: 19 });
    expect(
      (JSON.parse(file()) as typeof STATE).web.map((m) => `${m.name}=${m.state}/${(m as { weight?: number }).weight}`),
    ).toEqual(['web1a=ready/undefined', 'web1b=ready/19']);
    expect(lb.calls.map((c) => (c.argv.includes('POST') ? 'POST' : c.argv[0]))).toEqual(['sh', 'sh', 'POST']);
    expect(await balancer.weights()).toEqual({ web1a: 1, web1b: 19 });
    expect(balancer.weighing()).toEqual({ can: true, min: 1, max: 256 });
  });

  it('names a Lua side older than weights, which would balance evenly whatever the file says', async () => {
    const { balancer } = weighingHost({ old: true });
    await expect(balancer.setWeights({ web1b: 19 })).rejects.toThrow(
      /did not take the change \(weights web1b 19\): the running baton_balancer\.lua does not weigh members/,
    );
  });

  it('names the member whose weight does not read back', async () => {
    const { balancer } = weighingHost({ keeps: true });
    await expect(balancer.setWeights({ web1b: 19 })).rejects.toThrow(/web1b: reads back 1/);
  });

  it('refuses a weight out of 1-256 and a member the upstream does not have, before writing anything', async () => {
    const { lb, balancer } = weighingHost();
    await expect(balancer.setWeights({ web1a: 0 })).rejects.toThrow(
      'nginx upstream web on lb takes weights from 1 to 256 (whole numbers), not web1a 0',
    );
    await expect(balancer.setWeights({ web1a: 2, web3c: 2 })).rejects.toThrow(
      'nginx upstream web on lb has no member web3c: members are web1a, web1b',
    );
    expect(lb.calls.filter((c) => c.stdin !== undefined && c.argv[0] === 'sh')).toEqual([]);
  });
});

describe('per-member counts from the access log', () => {
  // The access-log script runs for real on this machine; the control endpoint answers readBack.
  function withLog() {
    const log = join(mkdtempSync(join(tmpdir(), 'baton-nginx-log-')), 'public.log');
    writeFileSync(log, '');
    const local = new LocalTransport();
    const control = new ScriptedTransport('lb', () => ({ stdout: readBack({}) }));
    const lb: Transport = {
      host: 'lb',
      run: (argv, opts) => (argv[0] === 'sh' ? local.run(argv, opts) : control.run(argv, opts)),
      upload: async () => {},
      download: async () => {},
    };
    return {
      log,
      balancer: new NginxLuaBalancer(lb, { upstream: 'web', accessLog: log, appTransport: async () => lb }),
    };
  }
  const line = (status: number, upstream?: string) =>
    `10.213.7.1 - - [27/Nov/2026:22:00:00 +0000] "GET / HTTP/1.1" ${status} 42 "-" "load"` +
    (upstream === undefined ? '' : ` upstream="${upstream}"`) +
    '\n';

  it('counts each line for the member at its $upstream_addr, a retried one for the one that answered', async () => {
    const { log, balancer } = withLog();
    expect(await balancer.memberCounters?.()).toEqual({});
    appendFileSync(
      log,
      line(200, '10.213.7.11:8000') +
        line(500, '10.213.7.11:8000') +
        line(200, '10.213.7.11:8000, 10.213.7.21:8000') +
        line(502, '10.213.7.21:8000') +
        line(404, '-'),
    );
    // the retried line: web1a failed an attempt (nginx moved on), web1b answered
    expect(await balancer.memberCounters?.()).toEqual({
      web1a: { requests: 2, http5xx: 1, failed: 1 },
      web1b: { requests: 2, http5xx: 1, failed: 0 },
    });
    expect(balancer.countsFailedAttempts).toBe(true);
  });

  it('says in one sentence that its lines name no member', async () => {
    const { log, balancer } = withLog();
    appendFileSync(log, line(200));
    const refused = await balancer.memberCounters?.().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MemberCountsUnavailable);
    expect((refused as Error).message).toBe(
      `the access log ${log} on lb does not end its lines with upstream="$upstream_addr", ` +
        'so baton cannot tell which member answered them',
    );
  });
});
