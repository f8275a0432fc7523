import { defineConfig } from 'vitest/config';

// Two projects: `unit` (plain objects, recording transports, no hosts) and `lab` (real sshd,
// balancers, DNS and git in test/lab, brought up once per run by its global setup).
export default defineConfig({
  test: {
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
          globalSetup: ['test/lab/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
