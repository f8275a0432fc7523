// The run record kept with production, driven through real `sh` on this machine (a LocalTransport
// stands in for the SSH one; the scripts are the same): a run's journal mirrored byte for byte,
// retries that never write a line twice, a record that fell behind caught up, runs made
// elsewhere fetched, disagreeing copies kept aside and reported, old runs pruned for good.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execute, type StepRunner } from '../../src/engine/executor.js';
import { Journal, journalDir, readJournal } from '../../src/engine/journal.js';
import { SilentReporter } from '../../src/engine/reporter.js';
import {
  describeSync,
  pruneRecord,
  RecordUnwritableError,
  RunRecordMirror,
  syncRecord,
  type RecordPlace,
} from '../../src/engine/run-record.js';
import { LocalTransport } from '../../src/transport/local.js';
import type { Transport } from '../../src/transport/types.js';
import type { Step } from '../../src/model/plan.js';
import { anyFieldsStep } from '../helpers/loose-steps.js';

const RUN = '20261207T080000.000Z-abcdef';

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'baton-record-'));
  const configDir = join(root, 'laptop');
  mkdirSync(configDir);
  const place: RecordPlace = {
    host: 'lb1',
    transport: new LocalTransport('lb1'),
    dir: join(root, 'lb1', 'var', 'lib', 'baton', 'shop.runs'),
  };
  return { root, configDir, place };
}

const remoteFile = (place: RecordPlace, run = RUN) => join(place.dir, `${run}.jsonl`);

describe('a run mirrored into the record', () => {
  it('sends the plan first and the journal byte for byte, as it grows', async () => {
    const { configDir, place } = setup();
    const journal = new Journal(journalDir(configDir), RUN);
    const mirror = new RunRecordMirror([place], journal.file, RUN, { plan: '{"plan":"p"}\n' });
    mirror.attach(journal);
    journal.append({
      event: 'run-begin',
      command: 'push',
      plan: 'sha256:p',
      tag: 'v2 → “café”',
      by: 'ci',
      steps: ['lock'],
    });
    for (let i = 0; i < 20; i++) journal.append({ event: 'note', message: `line ${i}` });
    expect(await mirror.close()).toEqual([]);
    expect(readFileSync(remoteFile(place))).toEqual(readFileSync(journal.file));
    expect(readFileSync(join(place.dir, `${RUN}.plan.json`), 'utf8')).toBe('{"plan":"p"}\n');
    expect(readJournal(remoteFile(place))).toHaveLength(21);
  });

  it(
    'a retry whose first attempt landed writes nothing twice; ' +
      'a record shorter than believed is sent again from its end',
    async () => {
      const { configDir, place } = setup();
      const journal = new Journal(journalDir(configDir), RUN);
      journal.append({ event: 'note', message: 'one' });
      journal.append({ event: 'note', message: 'two' });
      // The first attempt landed, its answer was lost: the record already holds both lines.
      mkdirSync(place.dir, { recursive: true });
      writeFileSync(remoteFile(place), readFileSync(journal.file));
      const mirror = new RunRecordMirror([place], journal.file, RUN);
      mirror.attach(journal);
      journal.append({ event: 'note', message: 'three' });
      await mirror.gate();
      expect(await mirror.close()).toEqual([]);
      expect(readFileSync(remoteFile(place))).toEqual(readFileSync(journal.file));

      // Someone cut the record short: the next line sends everything from where it ends now.
      const mirror2 = new RunRecordMirror([place], journal.file, RUN);
      mirror2.attach(journal);
      await mirror2.close();
      truncateSync(remoteFile(place), 10);
      const mirror3 = new RunRecordMirror([place], journal.file, RUN);
      mirror3.attach(journal);
      journal.append({ event: 'note', message: 'four' });
      expect(await mirror3.close()).toEqual([]);
      expect(readFileSync(remoteFile(place))).toEqual(readFileSync(journal.file));
      expect(readJournal(remoteFile(place)).map((e) => (e as { message: string }).message)).toEqual([
        'one',
        'two',
        'three',
        'four',
      ]);
    },
  );

  it(
    'a record that cannot be written stops the run before its next step, ' + 'and the steps that ran are reversed',
    async () => {
      const { configDir, place } = setup();
      mkdirSync(join(place.dir, '..'), { recursive: true });
      writeFileSync(place.dir, 'a file where the folder should be'); // mkdir -p fails, for root too
      const journal = new Journal(journalDir(configDir), RUN);
      const mirror = new RunRecordMirror([place], journal.file, RUN);
      mirror.attach(journal);
      const step = (id: string, undo: Step[] = []): Step => anyFieldsStep(id, id === 'lock' ? 'lock' : 'drain', undo);
      const unlock = { ...step('undo-lock'), kind: 'unlock' } as Step;
      const ran: string[] = [];
      const run: StepRunner = async (s) => {
        ran.push(s.id);
        return undefined;
      };
      let first = true;
      const r = await execute({
        steps: [step('lock', [unlock]), step('drain-a')],
        run,
        journal,
        reporter: new SilentReporter(),
        // The first step goes once the first write was tried; the failed write then gates the next.
        beforeStep: async () => {
          if (first) {
            first = false;
            await new Promise((res) => setTimeout(res, 300));
            return;
          }
          await mirror.gate();
        },
      });
      expect(ran).toEqual(['lock', 'undo-lock']);
      expect(r.outcome).toBe('reversed');
      expect(r.failedStep).toBe('drain-a');
      expect(r.error).toBeInstanceOf(RecordUnwritableError);
      expect(r.error?.message).toMatch(/run record on lb1 \(.*shop\.runs\) cannot be written/);
      const behind = await mirror.close();
      expect(behind).toHaveLength(1);
      expect(behind[0]).toMatch(
        /run record on lb1 is behind .*has the whole run, and the next baton command that reaches lb1 sends it/,
      );
    },
  );
  it('a host that answers nonsense is a record that cannot be written, never a loop', async () => {
    const { configDir } = setup();
    const journal = new Journal(journalDir(configDir), RUN);
    const silent: Transport = {
      host: 'lb1',
      run: async () => ({ code: 0, stdout: '', stderr: '' }),
      upload: async () => undefined,
      download: async () => undefined,
    };
    const mirror = new RunRecordMirror(
      [{ host: 'lb1', transport: silent, dir: '/var/lib/baton/shop.runs' }],
      journal.file,
      RUN,
    );
    mirror.attach(journal);
    journal.append({ event: 'note', message: 'one' });
    await mirror.gate(true); // marks where the journal is; the next step waits for that much
    await expect(mirror.gate(true)).rejects.toThrow(/cannot be written: unexpected answer from the record: ""/);
  });
});

describe('reading the record', () => {
  function seedRun(dir: string, run: string, lines: string[], plan = '{}') {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${run}.jsonl`), lines.map((l) => `${l}\n`).join(''));
    writeFileSync(join(dir, `${run}.plan.json`), plan);
  }
  const line = (run: string, message: string) =>
    JSON.stringify({ ts: '2026-12-07T08:00:00.000Z', run, event: 'note', message });

  it(
    'fetches runs made elsewhere, sends what this machine holds more of, ' + 'and says nothing when the two agree',
    async () => {
      const { configDir, place } = setup();
      const elsewhere = '20261207T070000.000Z-other1';
      seedRun(place.dir, elsewhere, [line(elsewhere, 'made on a CI runner')], '{"p":1}');
      // A run of this machine whose record fell behind (the lock host did not answer at its end).
      seedRun(place.dir, RUN, [line(RUN, 'a')]);
      seedRun(journalDir(configDir), RUN, [line(RUN, 'a'), line(RUN, 'b')]);
      const sync = await syncRecord([place], configDir);
      expect(sync).toMatchObject({ host: 'lb1', fetched: [elsewhere], sent: [RUN], diverged: [], unreachable: [] });
      expect(readFileSync(join(journalDir(configDir), `${elsewhere}.jsonl`))).toEqual(
        readFileSync(remoteFile(place, elsewhere)),
      );
      expect(readFileSync(join(journalDir(configDir), `${elsewhere}.plan.json`), 'utf8')).toBe('{"p":1}');
      expect(readFileSync(remoteFile(place))).toEqual(readFileSync(join(journalDir(configDir), `${RUN}.jsonl`)));
      expect(describeSync(sync, place.dir)).toEqual([
        `the record on lb1 was behind for run ${RUN}; sent what this machine held`,
      ]);
      const again = await syncRecord([place], configDir);
      expect(again).toMatchObject({ fetched: [], sent: [], diverged: [] });
      expect(describeSync(again, place.dir)).toEqual([]);
    },
  );

  it(
    'a clean clone fetches the newest runs it needs, not the whole record; ' + 'old runs the record lacks are not sent',
    async () => {
      const { configDir, place } = setup();
      const runs = Array.from({ length: 30 }, (_, i) => `20261207T${String(i).padStart(2, '0')}0000.000Z-r${i}`);
      for (const r of runs) seedRun(place.dir, r, [line(r, 'x')]);
      const old = '20261101T000000.000Z-oldrun';
      seedRun(journalDir(configDir), old, [line(old, 'made for another record')]);
      const sync = await syncRecord([place], configDir, { newest: 5, run: '20261207T03' });
      expect(sync.fetched.sort()).toEqual([runs[3], ...runs.slice(25)].sort());
      expect(sync.sent).toEqual([]);
      expect(existsSync(remoteFile(place, old))).toBe(false);
      expect(existsSync(join(journalDir(configDir), `${runs[3]}.plan.json`))).toBe(true);
    },
  );

  it('two copies that disagree: the longer one is used, the other kept aside, and it is said', async () => {
    const { configDir, place } = setup();
    seedRun(place.dir, RUN, [line(RUN, 'a'), line(RUN, 'resumed elsewhere'), line(RUN, 'c')]);
    seedRun(journalDir(configDir), RUN, [line(RUN, 'a'), line(RUN, 'went on here')]);
    const sync = await syncRecord([place], configDir);
    expect(sync.diverged).toHaveLength(1);
    expect(sync.diverged[0]).toMatchObject({ run: RUN, kept: 'record' });
    expect(readFileSync(join(journalDir(configDir), `${RUN}.jsonl`))).toEqual(readFileSync(remoteFile(place)));
    expect(readFileSync(sync.diverged[0]!.asideAt, 'utf8')).toContain('went on here');
    expect(describeSync(sync, place.dir).join('\n')).toMatch(
      /disagree; the record's copy is used, this machine's is kept at .*diverged-/,
    );

    // This machine's copy is the longer one: it stands in the record, the record's kept aside there.
    const { configDir: c2, place: p2 } = setup();
    seedRun(p2.dir, RUN, [line(RUN, 'a'), line(RUN, 'x')]);
    seedRun(journalDir(c2), RUN, [line(RUN, 'a'), line(RUN, 'y'), line(RUN, 'z')]);
    const s2 = await syncRecord([p2], c2);
    expect(s2.diverged[0]).toMatchObject({ kept: 'local' });
    expect(readFileSync(remoteFile(p2))).toEqual(readFileSync(join(journalDir(c2), `${RUN}.jsonl`)));
    expect(readdirSync(p2.dir).some((f) => f.startsWith(`${RUN}.jsonl.diverged-`))).toBe(true);
  });

  it('a copy that does not answer: the next one is read; none: the cache stands and it is said', async () => {
    const { configDir, place } = setup();
    seedRun(place.dir, RUN, [line(RUN, 'from the peer')]);
    const dead: Transport = {
      host: 'lb0',
      run: async () => Promise.reject(new Error('lb0: connect timed out after 10000 ms')),
      upload: async () => undefined,
      download: async () => undefined,
    };
    const sync = await syncRecord([{ host: 'lb0', transport: dead, dir: place.dir }, place], configDir);
    expect(sync).toMatchObject({ host: 'lb1', fetched: [RUN], unreachable: [{ host: 'lb0' }] });
    const none = await syncRecord([{ host: 'lb0', transport: dead, dir: place.dir }], configDir);
    expect(none.host).toBeUndefined();
    expect(describeSync(none, place.dir)).toEqual([
      `the run record (${place.dir} on lb0) could not be read (lb0: connect timed out after 10000 ms); ` +
        `showing this machine's copy, which may be behind`,
    ]);
  });

  it('prunes the oldest runs beyond the count, and a cache that still holds them does not send them back', async () => {
    const { configDir, place } = setup();
    const runs = Array.from({ length: 14 }, (_, i) => `20261207T${String(i).padStart(2, '0')}0000.000Z-r${i}`);
    for (const r of runs) {
      seedRun(place.dir, r, [line(r, 'x')]);
      seedRun(journalDir(configDir), r, [line(r, 'x')]);
    }
    await pruneRecord(place, 10);
    const left = readdirSync(place.dir)
      .filter((f) => f.endsWith('.jsonl'))
      .sort();
    expect(left).toEqual(runs.slice(4).map((r) => `${r}.jsonl`));
    expect(existsSync(join(place.dir, `${runs[0]}.plan.json`))).toBe(false);
    const sync = await syncRecord([place], configDir);
    expect(sync.sent).toEqual([]);
    expect(readdirSync(place.dir).filter((f) => f.endsWith('.jsonl'))).toHaveLength(10);
  });
});
