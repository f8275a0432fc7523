// What a migration has done so far, kept beside the journal (.baton/dns/<site>.json), so the
// commands run hours apart (plan, proxy install, cutover, watch, finish) know where it stands:
// which steps are done, and when each DNS change was first served everywhere.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DnsPlan } from './types.js';

export interface DnsState {
  site: string;
  plan: DnsPlan;
  /** Forward step ids carried out, in order. */
  done: string[];
  /** When the transitional record was first seen on every authoritative server. */
  transitionalSince?: string;
  /** When every authoritative server served the new address for the site. */
  switchedAt?: string;
  /** The moment no cache can hold the old address any more. */
  horizon?: string;
  cutoverAt?: string;
  finishedAt?: string;
}

export class DnsStateStore {
  readonly file: string;

  constructor(configDir: string, site: string) {
    const dir = join(configDir, '.baton', 'dns');
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${site.replace(/[^A-Za-z0-9.-]/g, '_')}.json`);
  }

  read(): DnsState | undefined {
    if (!existsSync(this.file)) return undefined;
    return JSON.parse(readFileSync(this.file, 'utf8')) as DnsState;
  }

  write(state: DnsState): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, this.file);
  }

  /** Applies a change to the stored state and writes it at once (before the next step begins). */
  update(change: (s: DnsState) => void): DnsState {
    const s = this.read();
    if (!s) throw new Error(`no migration state in ${this.file}`);
    change(s);
    this.write(s);
    return s;
  }
}
