// Proves the lab is made of the real things baton will drive: sshd per host with its own key
// and /srv, HAProxy's runtime socket, Apache's balancer-manager, nginx reload, BIND with TSIG
// updates, and Varnish forwarding old-web → new-web with the Host header kept.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAB_TTL_S } from '../../bench/dns.js';

const STATE = '/run/baton-lab';

interface LabHost {
  name: string;
  short: string;
  address: string;
  role: string;
  cluster?: string;
  member?: string;
}
interface Lab {
  zone: string;
  hosts: LabHost[];
  dns: { address: string; tsigKeyFile: string };
  balancer: { address: string };
}

let lab: Lab;

/** Run a program; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Run a shell command on a lab host through the system ssh client and the lab's ssh_config. */
async function ssh(host: string, command: string, input?: string): Promise<string> {
  const r = await run('ssh', ['-F', `${STATE}/ssh_config`, host, command], input);
  if (r.code !== 0) throw new Error(`ssh ${host} '${command}' exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request without connection reuse (so each one is balanced afresh). */
function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** X-Host of n sequential requests. */
async function hostsAnswering(url: string, n: number, headers?: Record<string, string>): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < n; i++) seen.push(String((await request(url, { headers })).headers['x-host']));
  return seen;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const app = (member: string): LabHost => {
  const h = lab.hosts.find((x) => x.member === member);
  if (!h) throw new Error(`no app host ${member}`);
  return h;
};

beforeAll(() => {
  // Lab rule: no traffic to the lab range unless its bridge is there.
  expect(existsSync('/sys/class/net/baton0')).toBe(true);
  lab = JSON.parse(readFileSync(`${STATE}/lab.json`, 'utf8')) as Lab;
});

describe('hosts', () => {
  it('every host answers over SSH with its own host key, name and /srv', async () => {
    const keys = readFileSync(`${STATE}/known_hosts`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[2]);
    expect(new Set(keys).size).toBe(lab.hosts.length);

    const marker = `marker-${randomBytes(6).toString('hex')}`;
    const [first, second] = lab.hosts.filter((h) => h.role === 'app');
    if (!first || !second) throw new Error('need two app hosts');
    await ssh(first.short, `echo ${marker} > /tmp/lab-test-marker`);
    try {
      const seen = await Promise.all(
        lab.hosts.map((h) => ssh(h.name, 'hostname; cat /tmp/lab-test-marker 2>/dev/null || echo none')),
      );
      seen.forEach((out, i) => {
        const [name, mark] = out.trim().split('\n');
        expect(name).toBe(lab.hosts[i]?.name);
        expect(mark).toBe(lab.hosts[i] === first ? marker : 'none');
      });
      // Same name, by address: known_hosts carries the IP too.
      expect((await ssh(second.address, 'hostname')).trim()).toBe(second.name);
      expect(existsSync('/tmp/lab-test-marker')).toBe(false);
    } finally {
      await ssh(first.short, 'rm -f /tmp/lab-test-marker');
    }
  });

  it('logs in as the deploy user, refuses root, and lets sudo raise only the minimal sudoers file', async () => {
    expect((await ssh('lb', 'id -un')).trim()).toBe('deploy');
    for (const host of ['lb', 'lb2', 'web-1.prod-a', 'old-web']) {
      const r = await run('ssh', ['-F', `${STATE}/ssh_config`, '-o', 'User=root', host, 'true']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied/);
    }
    expect(
      (await run('ssh', ['-F', `${STATE}/ssh_config`, 'lb', 'sudo -n -l -- haproxy -c -f /etc/haproxy/haproxy.cfg']))
        .code,
    ).toBe(0);
    const shell = await run('ssh', ['-F', `${STATE}/ssh_config`, 'lb', 'sudo -n -- id -u']);
    expect(shell.code).not.toBe(0);
    // The runtime API through the socket's group, the app through the deploy root it owns.
    expect(await ssh('lb', 'socat stdio /run/haproxy/admin.sock', 'show info\n')).toMatch(/^Name: HAProxy/m);
    expect(
      (await ssh('web-1.prod-a', 'stat -c %U /srv/shop/current && ps -o user= -p "$(cat /srv/shop/run/shop.pid)"'))
        .split('\n')
        .map((l) => l.trim()),
    ).toEqual(['deploy', 'deploy', '']);
  });

  it('refuses a host whose key is not in the lab known_hosts', async () => {
    const r = await run('ssh', ['-F', `${STATE}/ssh_config`, '-o', 'UserKnownHostsFile=/dev/null', 'lb', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Host key verification failed/);
  });
});

describe('HAProxy runtime socket', () => {
  const sock = (cmd: string) => ssh('lb', 'socat stdio /run/haproxy/admin.sock', `${cmd}\n`);
  /** status and current sessions of every server in backend web, from `show stat` CSV. */
  async function servers(): Promise<Map<string, { status: string; scur: number }>> {
    const [head = '', ...rows] = (await sock('show stat web 4 -1')).trim().split('\n');
    const cols = head.replace(/^# /, '').split(',');
    return new Map(
      rows
        .map((l) => l.split(','))
        .map((f) => [f[1] ?? '', { status: f[cols.indexOf('status')] ?? '', scur: Number(f[cols.indexOf('scur')]) }]),
    );
  }
  const server = async (name: string) => (await servers()).get(name) ?? { status: 'absent', scur: -1 };

  it('drains a server with a request in flight, reports its sessions, then readies it', async () => {
    const url = `http://${lab.balancer.address}/`;
    const before = await servers();
    const slow = request(`${url}slow?ms=2500`);
    // The server that took the slow request shows one more current session than before.
    const busy = await eventually('a server with a new session', async () => {
      const now = await servers();
      return lab.hosts.find((h) => h.member && (now.get(h.member)?.scur ?? 0) > (before.get(h.member)?.scur ?? 0));
    });
    const member = busy.member ?? '';
    await sock(`set server web/${member} state drain`);
    try {
      const drained = await server(member);
      expect(drained.status).toBe('DRAIN');
      expect(drained.scur).toBeGreaterThanOrEqual(1);
      expect(await hostsAnswering(url, 8)).not.toContain(busy.name);
      const done = await slow;
      expect(done.status).toBe(200);
      expect(done.headers['x-host']).toBe(busy.name);
      await eventually('the drained server to have no sessions', async () =>
        (await server(member)).scur === 0 ? true : undefined,
      );
    } finally {
      await sock(`set server web/${member} state ready`);
    }
    expect((await server(member)).status).toBe('UP');
    expect(await hostsAnswering(url, 8)).toContain(busy.name);
  });
});

describe('Apache balancer-manager', () => {
  const base = () => `http://${lab.balancer.address}:8080`;
  // Apache ignores manager parameters unless the Referer's host is the request's server name.
  const referer = () => ({ referer: `${base()}/balancer-manager` });
  async function worker(url: string): Promise<{ nonce: string; status: string }> {
    const xml = (await request(`${base()}/balancer-manager?b=web&xml=1`, { headers: referer() })).body;
    // The XML lists every balancer (web, prod_a, prod_b share member URLs): pick web's block.
    const balancer =
      xml.split('<httpd:balancer>').find((b) => b.includes('<httpd:name>balancer://web</httpd:name>')) ?? '';
    const nonce = /<httpd:nonce>([^<]+)</.exec(balancer)?.[1];
    const block = balancer.split('<httpd:worker>').find((w) => w.includes(`<httpd:name>${url}</httpd:name>`));
    const status = block && /<httpd:status>([^<]*)</.exec(block)?.[1];
    if (!nonce || status === undefined) throw new Error(`worker ${url} not in balancer-manager XML`);
    return { nonce, status: status.trim() };
  }
  const change = (url: string, nonce: string, disabled: 0 | 1, headers: Record<string, string>) =>
    request(`${base()}/balancer-manager`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ b: 'web', w: url, nonce, w_status_D: String(disabled) }).toString(),
    });

  it('disables a member (read back, and no traffic reaches it), then enables it', async () => {
    const target = app('web1a');
    const url = `http://${target.address}:8000`;
    const { nonce, status } = await worker(url);
    expect(status).toBe('Init Ok');

    // Without the Referer the change is silently ignored: that is why drivers must send it.
    await change(url, nonce, 1, {});
    expect((await worker(url)).status).toBe('Init Ok');

    await change(url, nonce, 1, referer());
    try {
      expect((await worker(url)).status).toMatch(/Dis/);
      expect(await hostsAnswering(`${base()}/`, 8)).not.toContain(target.name);
    } finally {
      await change(url, nonce, 0, referer());
    }
    expect((await worker(url)).status).toBe('Init Ok');
    expect(await hostsAnswering(`${base()}/`, 8)).toContain(target.name);
  });
});

describe('nginx', () => {
  it('validates its config and reloads a changed upstream', async () => {
    const target = app('web1a');
    const file = '/etc/nginx/baton-upstream.conf';
    const original = await ssh('lb', `cat ${file}`);
    const url = `http://${lab.balancer.address}:8088/`;
    try {
      await ssh('lb', `cat > ${file}`, 'upstream web { server 10.213.7.11:8000 bogus_flag; }\n');
      expect((await run('ssh', ['-F', `${STATE}/ssh_config`, 'lb', 'sudo -n nginx -t'])).code).not.toBe(0);

      // Take web1a out of `web` the only way open-source nginx 1.22 can: `down`, then reload.
      const down = original.replace(`server ${target.address}:8000;`, `server ${target.address}:8000 down;`);
      expect(down).not.toBe(original);
      await ssh('lb', `cat > ${file}`, down);
      expect(await ssh('lb', 'sudo -n nginx -t 2>&1')).toMatch(/test is successful/);
      await ssh('lb', 'sudo -n nginx -s reload');
      await eventually('nginx to stop sending to web1a', async () =>
        (await hostsAnswering(url, 8)).includes(target.name) ? undefined : true,
      );
    } finally {
      await ssh('lb', `cat > ${file}`, original);
      await ssh('lb', 'sudo -n nginx -t && sudo -n nginx -s reload');
    }
    await eventually('nginx to send to web1a again', async () =>
      (await hostsAnswering(url, 8)).includes(target.name) ? true : undefined,
    );
  });
});

describe('DNS', () => {
  const dig = async (name: string) => {
    const r = await run('dig', [`@${lab.dns.address}`, '+norecurse', '+noall', '+answer', '+comments', name, 'A']);
    const answer = r.stdout
      .split('\n')
      .find((l) => l.startsWith(`${name}.`))
      ?.split(/\s+/);
    return { flags: /;; flags: ([^;]*);/.exec(r.stdout)?.[1] ?? '', ttl: Number(answer?.[1]), address: answer?.[4] };
  };

  it('answers authoritatively with short TTLs', async () => {
    const a = await dig(`lb.${lab.zone}`);
    expect(a.flags.split(' ')).toContain('aa');
    expect(a.address).toBe('10.213.7.2');
    expect(a.ttl).toBe(LAB_TTL_S);
  });

  it('accepts a TSIG-signed update and refuses an unsigned one', async () => {
    const name = `t-${randomBytes(4).toString('hex')}.${lab.zone}`;
    const update = (add: boolean) =>
      `server ${lab.dns.address}\nzone ${lab.zone}` +
      `\nupdate ${add ? `add ${name} 15 A 10.213.7.5` : `delete ${name} A`}\nsend\n`;

    const unsigned = await run('nsupdate', [], update(true));
    expect(unsigned.code).not.toBe(0);
    expect(unsigned.stderr + unsigned.stdout).toMatch(/REFUSED/);

    const signed = await run('nsupdate', ['-k', lab.dns.tsigKeyFile], update(true));
    expect(signed.code, signed.stderr).toBe(0);
    try {
      expect(await dig(name)).toMatchObject({ address: '10.213.7.5', ttl: 15 });
    } finally {
      await run('nsupdate', ['-k', lab.dns.tsigKeyFile], update(false));
    }
  });
});

describe('Varnish on old-web', () => {
  it('forwards to new-web keeping the Host header, then stops by pid file', async () => {
    const vcl = [
      'vcl 4.1;',
      'backend new_web { .host = "10.213.7.5"; .port = "80"; }',
      '# A migration proxy must never serve a stale answer: pass everything.',
      'sub vcl_recv { return (pass); }',
      '',
    ].join('\n');
    const pidFile = '/tmp/varnish-lab-test.pid';
    await ssh('old-web', 'cat > /tmp/lab-test.vcl', vcl);
    await ssh(
      'old-web',
      '/usr/sbin/varnishd -a :6081 -f /tmp/lab-test.vcl -T 127.0.0.1:6082 -n /tmp/varnish-lab-test ' +
        `-P ${pidFile} -s malloc,32m`,
    );
    try {
      const answer = await eventually('varnish to answer', async () =>
        request(`http://10.213.7.4:6081/version`, { headers: { host: `old-site.${lab.zone}` } }).catch(() => undefined),
      );
      expect(answer.status).toBe(200);
      expect(answer.headers['x-host']).toBe(`new-web.${lab.zone}`);
      expect(JSON.parse(answer.body)).toMatchObject({
        host: `new-web.${lab.zone}`,
        requestHost: `old-site.${lab.zone}`,
      });
    } finally {
      // Stop by pid file and wait until gone (a zombie counts as gone: PID 1 reaps late here).
      await ssh(
        'old-web',
        [
          `pid=$(cat ${pidFile})`,
          'kill -TERM "$pid"',
          'for i in $(seq 100); do s=$(sed -n "s/.*) \\(.\\).*/\\1/p" /proc/$pid/stat 2>/dev/null); ' +
            '[ -z "$s" -o "$s" = Z ] && break; sleep 0.1; done',
          '[ -z "$s" -o "$s" = Z ]',
          `rm -f ${pidFile} /tmp/lab-test.vcl`,
        ].join('; '),
      );
    }
    await expect(request('http://10.213.7.4:6081/version')).rejects.toThrow();
  });
});
