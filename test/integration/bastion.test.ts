// A push through a bastion, against the lab: the app hosts stop answering SSH to the control
// machine (their packets from port 22 to the bridge address are dropped), so only lb — which
// runs sshd with TCP forwarding allowed — can reach them. With `ssh.proxy: lb.baton.test` the
// push must still go through, and the hosts must end on the release pushed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { appHostNames, cutSsh, readLab, readyAllHaproxyMembers, restoreSsh } from './helpers/lab.js';

const LAB_SSH_CONFIG = '/run/baton-lab/ssh_config';
/** The control machine's address on the lab bridge (BRIDGE_ADDR in test/lab/lib.sh). */
const CONTROL = '10.213.7.1';
let config: string;
const cut: string[] = [];

function baton(args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', config], {
    reject: false,
    timeout: 180_000,
    env: { CI: '1', BATON_USER: 'bastion-test' },
  });
}

/** ssh to a lab host, directly or through lb; the result, never a throw. */
function ssh(host: string, command: string, viaBastion: boolean) {
  const jump = viaBastion ? ['-J', readLab().balancer.host] : [];
  return execa('ssh', ['-F', LAB_SSH_CONFIG, '-o', 'ConnectTimeout=3', ...jump, host, command], {
    reject: false,
    timeout: 30_000,
  });
}

beforeAll(() => {
  readyAllHaproxyMembers();
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-bastion-')), 'baton.yml'), [
    [['ssh', 'proxy'], readLab().balancer.host],
    [['ssh', 'connectTimeout'], '5s'],
  ]);
  // What a host sends from its SSH port to the control machine is dropped; lb still reaches it.
  for (const host of appHostNames()) {
    cut.push(host);
    cutSsh(host, { to: CONTROL });
  }
});

afterAll(() => {
  const failed: string[] = [];
  for (const host of cut.splice(0)) {
    try {
      restoreSsh(host);
    } catch {
      failed.push(host);
    }
  }
  expect(failed, 'tc rules left on these hosts').toEqual([]);
});

describe('a push through a bastion', () => {
  it('cannot reach the app hosts directly, only through lb', async () => {
    const host = appHostNames()[0]!;
    const direct = await ssh(host, 'true', false);
    expect(direct.exitCode, 'direct SSH must be cut').not.toBe(0);
    const through = await ssh(host, 'hostname', true);
    expect(through.exitCode, through.stderr).toBe(0);
  });

  it.each(['v2', 'v1'])('pushes %s with ssh.proxy set, and every app host ends on it', async (tag) => {
    // Forced: the lab may run the tag already, and the point is a whole push through the bastion.
    const r = await baton(['push', tag, '--force', 'bastion test: a whole push', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'succeeded', tag });
    for (const host of appHostNames()) {
      const release = await ssh(host, 'basename "$(readlink /srv/shop/current)"', true);
      expect(release.stdout.trim(), `${host}: ${release.stderr}`).toMatch(new RegExp(`^${tag}-[0-9a-f]{7}$`));
    }
    const status = await baton(['status', '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
  });
});
