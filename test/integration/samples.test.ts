// Traffic samples in the journal, against each real balancer: a push under light load journals
// `sample` events every ~500 ms in which a drain the load holds is seen with its sessions, and the request count
// (HAProxy's backend stats, Apache's and nginx's access logs in the lab) rising with the load.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { driverOverrides, type LabDriver, publicPort, writeLabConfig } from '../../bench/lab-config.js';
import { journalDir, listJournals, readJournal, type JournalRecord } from '../../src/engine/journal.js';
import { startLoad } from '../lab/load.js';
import { readyAllHaproxyMembers } from './helpers/lab.js';

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args], {
    reject: false,
    timeout: 120_000,
    env: { CI: '1', BATON_USER: 'samples-test' },
  });
}

type Sample = Extract<JournalRecord, { event: 'sample' }>;

/** The samples of the newest run journaled beside the config. */
function newestSamples(config: string): Sample[] {
  const file = listJournals(journalDir(dirname(config))).at(-1);
  expect(file, 'a journal for the push').toBeDefined();
  return readJournal(file as string).filter((r): r is Sample => r.event === 'sample');
}

describe.each(['haproxy', 'apache', 'nginx'] as const)('traffic samples through %s', (driver: LabDriver) => {
  let config: string;
  const url = `http://10.213.7.2:${publicPort(driver)}/`;

  beforeAll(async () => {
    if (driver === 'haproxy') readyAllHaproxyMembers();
    config = writeLabConfig(
      join(mkdtempSync(join(tmpdir(), `baton-samples-${driver}-`)), 'baton.yml'),
      driverOverrides(driver),
    );
    const r = await baton('push', 'v1', '-c', config);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('journals samples of a push: drained members reach 0 sessions, requests rise', async () => {
    // Slow requests keep each drain waiting well over a sampling interval, however fast the rest of the push is.
    const load = startLoad({
      url,
      seconds: 300,
      concurrency: 8,
      slowEvery: 1,
      slowPath: '/slow?ms=1500',
      timeout: 15_000,
    });
    const r = await baton('push', 'v2', '-c', config, '--json');
    await load.stop();
    expect(r.exitCode, r.stderr).toBe(0);

    const samples = newestSamples(config);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    // Every member baton.yml names is put in its cluster.
    expect(samples[0]?.members.every((m) => m.cluster === 'a' || m.cluster === 'b')).toBe(true);

    // A drain the slow requests hold lasts over a sampling interval, so samples see drained members
    // and their sessions. The moment one is empty is not sampled reliably: from the end of its wait to
    // its return to the pool takes ~150 ms now; the wait-drain steps' success says it reached 0.
    const drained = samples.flatMap((s) => s.members.filter((m) => m.state === 'drain'));
    expect(drained.length, 'a drained member in some sample').toBeGreaterThan(0);
    expect(
      drained.every((m) => Number.isInteger(m.sessions) && m.sessions >= 0 && (m.cluster === 'a' || m.cluster === 'b')),
    ).toBe(true);
    const journal = readJournal(listJournals(journalDir(dirname(config))).at(-1) as string);
    const waits = journal.filter((e) => e.event === 'step-ok' && e.step.startsWith('wait-drain-'));
    expect(waits.length, 'both clusters waited down to 0 in flight').toBe(2);

    // Every lab driver counts requests (haproxy's stats, the access log for apache and nginx).
    const counted = samples.filter((s) => s.requests !== undefined).map((s) => s.requests as number);
    expect(counted.length).toBeGreaterThan(1);
    expect(counted.at(-1)).toBeGreaterThan(counted[0] as number);
    for (let i = 1; i < counted.length; i++) expect(counted[i]).toBeGreaterThanOrEqual(counted[i - 1] as number);
  });
});
