// The running lab's description (/run/baton-lab/lab.json), typed for the tests that use it.
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
