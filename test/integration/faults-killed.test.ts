// The fault suite's recovery matrix, against the real lab under load: a push SIGKILLed at every
// step boundary, then resumed — and, in a separate run, rolled back. Each ends with the pool
// serving exactly one release, consistently, and the client sees no failed request.
// (`npm test` runs three of these boundaries, in test/integration/recovery.test.ts.)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect } from 'vitest';
import { writeLabConfig } from '../../bench/lab-config.js';
import { describeKilledPushes, EVERY_STEP_BOUNDARY } from './helpers/killed-pushes.js';
import { readyAllHaproxyMembers } from './helpers/lab.js';
import { startLoad, type LoadReport } from '../lab/load.js';

let config: string;
let load: { stop(): Promise<LoadReport> };

function baton(...args: string[]) {
  return execa('node', ['bin/run.js', ...args, '-c', config], {
    reject: false,
    timeout: 90_000,
    env: { CI: '1', BATON_USER: 'recovery-test' },
  });
}

beforeAll(async () => {
  readyAllHaproxyMembers();
  config = writeLabConfig(join(mkdtempSync(join(tmpdir(), 'baton-killed-')), 'baton.yml'));
  expect((await baton('push', 'v1')).exitCode).toBe(0);
  load = startLoad({
    url: 'http://10.213.7.2/',
    seconds: 3600,
    concurrency: 6,
    slowEvery: 8,
    slowPath: '/slow?ms=1000',
  });
});

afterAll(async () => {
  const report = await load?.stop();
  expect(report.failed, JSON.stringify(report.failures)).toBe(0);
  expect(report.requests).toBeGreaterThan(1000);
});

describeKilledPushes(() => config, baton, EVERY_STEP_BOUNDARY);
