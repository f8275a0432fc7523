// What only the nginx driver does, against the lab's real nginx: every pool change is a reload
// (and each reload resets requests racing its old workers' exit), so a flip is one reload, and
// a file left edited but not reloaded (a run killed in between) is reloaded when asked again.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NginxBalancer } from '../../src/balancers/nginx.js';
import { setDown } from '../../src/balancers/nginx-upstream.js';
import { httpRequest } from '../../src/checks/http.js';
import type { RunOptions, RunResult } from '../../src/transport/types.js';
import { appHosts, LAB_JSON, type Lab } from './helpers/lab.js';
import { SshCliTransport } from './helpers/ssh-cli-transport.js';
import { unraised } from '../../src/transport/privilege.js';

interface NginxLab {
  nginx: { port: number; upstream: string; upstreamFile: string; pidFile: string };
}

const lab = JSON.parse(readFileSync(LAB_JSON, 'utf8')) as Lab & { balancer: NginxLab };
const { nginx } = lab.balancer;

/** The lab's lb, counting the reloads the driver asks for. */
class CountingTransport extends SshCliTransport {
  reloads = 0;
  override run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    if (unraised(argv).join(' ') === 'nginx -s reload') this.reloads++;
    return super.run(argv, opts);
  }
}

const lb = new CountingTransport(lab.balancer.host);
const apps = new Map(appHosts(lab).map((h) => [h.address, new SshCliTransport(h.name)]));
const clusterOf = (c: 'a' | 'b') => appHosts(lab).filter((h) => h.cluster === c);
const members = (c: 'a' | 'b') => clusterOf(c).map((h) => h.member as string);
const balancer = new NginxBalancer(lb, {
  upstream: nginx.upstream,
  upstreamFile: nginx.upstreamFile,
  pidFile: nginx.pidFile,
  appTransport: async (m) => apps.get(m.address) as SshCliTransport,
});

/**
 * Which app hosts answer 16 requests through nginx's public frontend, one after another (round robin reaches every
 * member in the pool).
 */
async function servedBy(): Promise<Set<string>> {
  const hosts = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const a = await httpRequest(`http://${lab.balancer.address}:${nginx.port}/`, { timeoutMs: 10_000 });
    expect(a.status).toBe(200);
    hosts.add(a.headers['x-host'] as string);
  }
  return hosts;
}

afterEach(async () => {
  await balancer.ready([...members('a'), ...members('b')]);
});

afterAll(async () => {
  await Promise.all([lb.close(), ...[...apps.values()].map((t) => t.close())]);
});

describe('nginx driver in the lab', () => {
  it('flips in one reload: cluster a back in the pool and cluster b out, and traffic follows', async () => {
    await balancer.drain(members('a'));
    expect(await servedBy()).toEqual(new Set(clusterOf('b').map((h) => h.name)));
    const before = lb.reloads;
    await balancer.switchPool(members('a'), members('b'));
    expect(lb.reloads - before).toBe(1);
    expect(await servedBy()).toEqual(new Set(clusterOf('a').map((h) => h.name)));
    const states = Object.fromEntries((await balancer.members()).map((m) => [m.name, m.state]));
    expect(states).toEqual({
      ...Object.fromEntries(members('a').map((m) => [m, 'ready'])),
      ...Object.fromEntries(members('b').map((m) => [m, 'drain'])),
    });
  });

  it('reloads a file that was edited but never reloaded (a run killed in between), and only that once', async () => {
    const [victim] = members('a') as [string];
    const victimHost = clusterOf('a')[0]?.name as string;
    const text = (await lb.run(['cat', '--', nginx.upstreamFile])).stdout;
    const edited = setDown(text, nginx.upstream, [victim], true);
    expect(edited.changed).toBe(true);
    await lb.run(['sh', '-c', 'cat > "$1"', 'sh', nginx.upstreamFile], { stdin: edited.text });
    // The file says down, the running nginx still sends to it.
    expect(await servedBy()).toContain(victimHost);
    const before = lb.reloads;
    await balancer.drain([victim]);
    expect(lb.reloads - before).toBe(1);
    expect(await servedBy()).not.toContain(victimHost);
    await balancer.drain([victim]);
    expect(lb.reloads - before).toBe(1);
  });
});
