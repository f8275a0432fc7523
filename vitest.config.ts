import { defineConfig } from 'vitest/config';

// Three projects: `unit` (plain objects, recording transports, no hosts), `lab` (real sshd,
// balancers, DNS and git in test/lab, brought up once per run by its global setup) and `faults`
// (the fault suite in the lab, `npm run test:faults`).
//
// Each project sets its own parallelism (vitest 4): the unit files run one per CPU, the lab files
// one at a time, as they share one set of hosts. Vitest runs a project whose files are one at a
// time (maxWorkers 1, isolated, default sequence.groupOrder) after every other project's files,
// so `vitest run --project unit --project lab` would run the unit files first, two at a time on
// two CPUs, then the lab files one by one: never a lab file beside another. npm test
// (scripts/test.mjs) runs the two projects as two runs at once instead, the unit one on one worker.
//
// Keep --maxWorkers and --fileParallelism off the command line of a run that includes the lab:
// vitest 4.1 copies --fileParallelism (not yet --maxWorkers) onto every project, which would
// lift fileParallelism: false here; the lab's maxWorkers: 1 still holds it to one file at a time.
// The fault suite: signals, lost hosts, a push killed at every step boundary, a CI job cancelled part-way,
// finished by another runner, an old web server killed at the DNS hand-over. Long drills of recovery;
// `npm test` keeps a sample of each.
const FAULT_SUITE = ['test/integration/faults*.test.ts', 'test/integration/ci-gitlab-local.test.ts'];
const oneFileAtATime = { fileParallelism: false, maxWorkers: 1 } as const;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers: '100%', // 220 s → ~110 s on two CPUs against one file at a time
          // Tests that start processes (git, ssh-keygen, validators) take seconds beside the lab's run.
          testTimeout: 15_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/integration/**/*.test.ts'],
          exclude: FAULT_SUITE,
          globalSetup: ['test/lab/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          ...oneFileAtATime,
        },
      },
      {
        // The fault suite (about 10 minutes under load): `npm run test:faults`, which .ci/run runs after `npm test`.
        test: {
          name: 'faults',
          include: FAULT_SUITE,
          globalSetup: ['test/lab/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          ...oneFileAtATime,
        },
      },
    ],
  },
});
