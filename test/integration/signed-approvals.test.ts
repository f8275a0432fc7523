// Signed approvals end to end through the CLI against the lab: baton.yml requires a signed
// rehearsal and two approvals checked against an allowed_signers file (ada, bob, carol). carol
// makes the plan; her own approval, a second approval by ada under another name, eve's unknown
// key, a tampered signature and a signature of another plan are each refused or not counted,
// production untouched, until ada and bob have approved; then the plan applies.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import type { Approval, Plan } from '../../src/model/plan.js';
import { makeSigningKeys, type SigningKeys } from '../fixtures/signing-keys.js';
import { currentReleases } from './helpers/lab.js';

const USER = 'signed-approvals-test';
let dir: string;
let config: string;
let keys: SigningKeys;
let startTag: string | undefined;

function baton(args: string[]) {
  return execa('node', ['bin/run.js', ...args], { reject: false, env: { CI: '1', BATON_USER: USER } });
}

const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Plan;
const write = (file: string, plan: Plan) => writeFileSync(file, JSON.stringify(plan, null, 2));

async function approve(file: string, who: string, as = who) {
  const r = await baton(['approve', file, '--key', keys.key[who]!, '--as', as]);
  expect(r.exitCode, r.stderr).toBe(0);
}

/** apply must refuse (exit 3) saying `why`, and leave every host on the release it ran. */
async function refused(file: string, why: RegExp) {
  const before = await currentReleases();
  const r = await baton(['apply', file, '-c', config]);
  expect(r.exitCode, r.stderr).toBe(3);
  expect(r.stderr).toMatch(why);
  expect(await currentReleases()).toEqual(before);
}

/** The plan file with one of its approvals replaced (or removed, with no replacement). */
function editApproval(file: string, pick: (a: Approval) => boolean, replace?: (a: Approval) => Approval) {
  const plan = read(file);
  plan.approvals = (plan.approvals ?? []).flatMap((a) => (pick(a) ? (replace ? [replace(a)] : []) : [a]));
  write(file, plan);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-signed-'));
  keys = makeSigningKeys(['ada', 'bob', 'carol'], ['eve']);
  config = writeLabConfig(join(dir, 'baton.yml'), [
    [['require'], { rehearsal: true, approvals: 2, allowedSigners: keys.allowedSigners }],
  ]);
  const found = new Set(Object.values(await currentReleases()).map((d) => d.replace(/-[0-9a-f]{7}$/, '')));
  startTag = found.size === 1 ? [...found][0] : undefined;
  const r = await baton(['push', 'v1', '-c', writeLabConfig(join(dir, 'plain.yml'))]);
  expect(r.exitCode, r.stderr).toBe(0);
});

afterAll(async () => {
  const plain = writeLabConfig(join(dir, 'plain.yml'));
  await baton(['unlock', '--force', '--reason', 'test clean-up', '--yes', '-c', plain]);
  if (startTag && ['v1', 'v2', 'v4-slow'].includes(startTag)) await baton(['push', startTag, '-c', plain]);
});

describe('signed approvals', () => {
  it('validate refuses required approvals without allowed_signers (exit 64)', async () => {
    const r = await baton([
      'validate',
      '-c',
      writeLabConfig(join(dir, 'unsigned.yml'), [[['require'], { approvals: 1 }]]),
    ]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toMatch(/requiring approvals needs require.allowedSigners/);
  });

  it('counts distinct verified signers other than the author, refusing every record that does not verify', async () => {
    const file = join(dir, 'push-v2.json');
    const made = await baton(['plan', 'v2', '-c', config, '-o', file, '--key', keys.key.carol!]);
    expect(made.exitCode, made.stderr).toBe(0);
    expect(read(file).author).toMatchObject({
      by: USER,
      hash: read(file).hash,
      signature: expect.stringContaining('BEGIN SSH SIGNATURE'),
    });
    await refused(file, /requires a passed rehearsal[\s\S]*requires 2 approvals of this plan, it has 0/);

    const rehearsed = await baton(['rehearse', file, '-c', config, '--key', keys.key.ada!, '--json']);
    expect(rehearsed.exitCode, rehearsed.stderr + rehearsed.stdout).toBe(0);
    expect(JSON.parse(rehearsed.stdout)).toMatchObject({
      rehearsal: { outcome: 'passed', signature: expect.stringContaining('SSH SIGNATURE') },
    });

    // The author's own approval does not count, under whatever name.
    await approve(file, 'carol', 'Somebody Else');
    await refused(file, /it has 0; carol@example.com made the plan, so their own approval does not count/);

    // One person under two names counts once: the copy of ada's approval as "Bob" verifies as ada.
    await approve(file, 'ada', 'Ada');
    const adas = read(file).approvals!.find((a) => a.by === 'Ada')!;
    write(file, { ...read(file), approvals: [...read(file).approvals!, { ...adas, by: 'Bob' }] });
    await refused(file, /requires 2 approvals of this plan, it has 1 \(ada@example.com\)/);
    editApproval(file, (a) => a.by === 'Bob');

    // A key nobody listed is refused, naming the approval and the key.
    await approve(file, 'eve', 'Eve');
    await refused(file, /approval \d \(by Eve at \S+\): it is signed by key SHA256:\S+, which is not in/);
    editApproval(file, (a) => a.by === 'Eve');

    // A signature of another plan, moved onto this one, does not verify.
    const other = join(dir, 'push-v2-again.json');
    expect((await baton(['plan', 'v2', '-c', config, '-o', other, '--key', keys.key.carol!])).exitCode).toBe(0);
    await approve(other, 'bob', 'Bob');
    const moved = read(other).approvals!.find((a) => a.by === 'Bob')!;
    write(file, { ...read(file), approvals: [...read(file).approvals!, { ...moved, hash: read(file).hash }] });
    await refused(file, /approval \d \(by Bob at \S+\): its signature does not verify/);
    editApproval(file, (a) => a.by === 'Bob');

    // A tampered signature does not verify.
    await approve(file, 'bob', 'Bob');
    editApproval(
      file,
      (a) => a.by === 'Bob',
      (a) => {
        const lines = a.signature!.split('\n');
        lines[3] = `${lines[3]!.slice(0, 10)}${lines[3]![10] === 'A' ? 'B' : 'A'}${lines[3]!.slice(11)}`;
        return { ...a, signature: lines.join('\n') };
      },
    );
    await refused(file, /approval \d \(by Bob at \S+\): its signature does not verify/);
    editApproval(file, (a) => a.by === 'Bob');

    // ada and bob, each with their own key: the plan applies.
    await approve(file, 'bob', 'Bob');
    const md = await baton(['plan', '--from', file, '--format', 'markdown', '-c', config]);
    expect(md.stdout).toMatch(
      new RegExp(
        /baton\.yml requires 2; 2 counted \(ada@example\.com, bob@example\.com, by their signatures\), so /.source +
          /apply will run it/.source,
      ),
    );
    const applied = await baton(['apply', file, '-c', config, '--json']);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ outcome: 'succeeded', tag: 'v2' });
    expect(Object.values(await currentReleases()).every((d) => d.startsWith('v2-'))).toBe(true);
  });
});
