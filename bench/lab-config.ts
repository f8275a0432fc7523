// baton.yml for the lab as it is now: the committed template with its clusters filled from
// /run/baton-lab/lab.json, so 2 or 18 hosts per cluster need no hand-edited file.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { repoRoot } from './repo-root.js';

const TEMPLATE = `${repoRoot()}/test/lab/baton.haproxy.yml`;

interface LabJson {
  hosts: { name: string; role: string; cluster?: 'a' | 'b' }[];
}

/** Write the lab's baton.yml (optionally with overrides at key paths) and return its path. */
export function writeLabConfig(file = '/run/baton-lab/baton.yml', overrides: [string[], unknown][] = []): string {
  const lab = JSON.parse(readFileSync('/run/baton-lab/lab.json', 'utf8')) as LabJson;
  const doc = parseDocument(readFileSync(TEMPLATE, 'utf8'));
  for (const c of ['a', 'b'] as const) {
    doc.setIn(['clusters', c, 'hosts'], lab.hosts.filter((h) => h.role === 'app' && h.cluster === c).map((h) => h.name));
  }
  for (const [path, value] of overrides) doc.setIn(path, value);
  writeFileSync(file, doc.toString());
  return file;
}
