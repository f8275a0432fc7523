// The release lock's commands are argv only: the lock directory and run ids are positional
// parameters of fixed scripts. Checked as strings, then run for real with sh on a directory whose
// name has a space and quotes, as a lock.path from baton.yml may.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import {
  acquireLock,
  beatHeartbeat,
  readLock,
  removeLock,
  renewLease,
} from '../../src/engine/release-lock-commands.js';

const HOSTILE = `/var/lib/baton/it's a "lock" $(reboot)`;
const NOW = new Date('2026-12-07T10:00:00.900Z'); // 1796637600.9 s: the epoch is whole seconds
const LATER = new Date('2026-12-07T10:10:00Z');

const sh = (argv: string[], stdin?: string) =>
  execa(argv[0] as string, argv.slice(1), { reject: false, ...(stdin !== undefined ? { input: stdin } : {}) });

describe('release lock command builders', () => {
  it('pass the directory, the times (epoch seconds) and the runs as parameters, never in the script', () => {
    const acquire = acquireLock(HOSTILE, { now: NOW, run: 'r-1', takeOverRun: 'r-0', expires: LATER });
    expect(acquire.slice(0, 2)).toEqual(['sh', '-c']);
    expect(acquire.slice(3)).toEqual(['sh', HOSTILE, '1796637600', 'r-1', 'r-0', '1796638200']);
    expect(acquireLock(HOSTILE, { now: NOW, expires: LATER }).slice(3)).toEqual([
      'sh',
      HOSTILE,
      '1796637600',
      '',
      '',
      '1796638200',
    ]);
    expect(renewLease(HOSTILE, 'r-1', LATER).slice(3)).toEqual(['sh', HOSTILE, 'r-1', '1796638200']);
    expect(beatHeartbeat(HOSTILE, 'r-1').slice(3)).toEqual(['sh', HOSTILE, 'r-1']);
    expect(removeLock(HOSTILE, 'r-1').slice(3)).toEqual(['sh', HOSTILE, 'r-1']);
    expect(removeLock(HOSTILE, undefined).slice(3)).toEqual(['sh', HOSTILE, '']); // forced: whoever holds it
    expect(readLock(HOSTILE).slice(3)).toEqual(['sh', HOSTILE]);
    for (const argv of [acquire, renewLease(HOSTILE, 'r-1', LATER), beatHeartbeat(HOSTILE, 'r-1'), readLock(HOSTILE)]) {
      expect(argv[2]).not.toContain('lock"');
      expect(argv[2]).not.toContain('r-1');
    }
  });

  it('take, read, refuse another run, and remove a lock whose directory name is hostile', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'baton lock ')), `it's a "lock" $(touch pwned)`);
    const details = JSON.stringify({ by: 'ada', reason: 'push v2', run: 'r-1' });
    expect((await sh(acquireLock(dir, { now: NOW, run: 'r-1', expires: LATER }), details)).exitCode).toBe(0);
    expect(readFileSync(join(dir, 'details.json'), 'utf8')).toBe(details);
    const held = await sh(acquireLock(dir, { now: NOW, run: 'r-2', expires: LATER }), '{}');
    expect(held.exitCode).toBe(3);
    expect(held.stdout).toBe(details);
    expect((await sh(beatHeartbeat(dir, 'r-1'))).exitCode).toBe(0);
    const read = await sh(readLock(dir));
    expect(read.exitCode).toBe(0);
    const [clock, beat, ...rest] = read.stdout.split('\n');
    expect(clock).toMatch(/^\d+$/);
    expect(beat).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ r-1$/);
    expect(rest.join('\n')).toBe(details);
    expect((await sh(removeLock(dir, 'r-2'))).exitCode).toBe(3);
    expect((await sh(removeLock(dir, 'r-1'))).exitCode).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync('pwned')).toBe(false);
  });
});
