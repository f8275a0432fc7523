// The running lab's description (/run/baton-lab/lab.json), typed for the tests that use it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface LabHost {
  name: string;
  short: string;
  address: string;
  role: string;
  cluster?: 'a' | 'b';
  member?: string;
}

export interface Lab {
  hosts: LabHost[];
  balancer: {
    host: string;
    address: string;
    haproxy: { port: number; socket: string; backend: string; config: string };
  };
}

export const LAB_JSON = '/run/baton-lab/lab.json';

export function readLab(): Lab {
  return JSON.parse(readFileSync(LAB_JSON, 'utf8')) as Lab;
}

export function appHosts(lab: Lab): LabHost[] {
  return lab.hosts.filter((h) => h.role === 'app');
}

/** Every member of HAProxy's public backend back in the pool: a test starts from a whole pool, whatever an earlier run left. */
export function readyAllHaproxyMembers(): void {
  const lab = readLab();
  const members = appHosts(lab).map((h) => h.member).filter(Boolean);
  const commands = members.map((m) => `set server ${lab.balancer.haproxy.backend}/${m} state ready`).join('; ');
  execFileSync('ssh', ['-F', '/run/baton-lab/ssh_config', lab.balancer.host, `socat stdio ${lab.balancer.haproxy.socket}`], { input: `${commands}\n` });
}
