import { defineConfig } from 'vitest/config';

// Two projects: `unit` (plain objects, recording transports, no hosts) and `lab` (real sshd,
// balancers, DNS and git in test/lab, brought up once per run by its global setup).
export default defineConfig({
  test: {
    // The lab is one shared set of hosts: its test files must run one at a time. Vitest 3 cannot
    // set this per project, so it holds for every run, and `npm test` runs the unit files apart,
    // one per CPU (--fileParallelism --maxWorkers=100%: 220 s → 129 s on two CPUs).
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/faults.test.ts'],
          globalSetup: ['test/lab/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
      {
        // The fault suite (about 6 minutes under load): `npm run test:faults`, which .ci/run runs after `npm test`.
        test: {
          name: 'faults',
          include: ['test/integration/faults.test.ts'],
          globalSetup: ['test/lab/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
