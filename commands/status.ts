import { Flags } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { durationFlagMs } from '../src/cli/duration-flag.js';
import { processInterrupts } from '../src/engine/interrupts.js';
import { ExitCode, UserError } from '../src/errors.js';
import { watchStatus } from '../src/release/status-watch.js';
import { applyWithoutBalancer, withoutBalancerFlag } from '../src/cli/without-balancer-flag.js';
import { readRunRecord } from '../src/engine/run-record.js';
import { openSession } from '../src/engine/session.js';
import { gatherStatus, statusExitCode } from '../src/release/status.js';
import { statusText } from '../src/render/status.js';

export default class Status extends BatonCommand {
  static override summary =
    'Which cluster serves, what each host runs, sessions and health per member, ' +
    'the release lock (and whether its run is alive), and the last run (with any step it left pending).';
  static override description =
    'Exits 0 when it read everything it shows; exits 1 when some part could not be read (shown as unknown, ' +
    'with the reason; nothing was changed).';
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --json',
    '<%= config.bin %> status --watch   # from another terminal while a push runs; Ctrl-C to stop',
    '<%= config.bin %> status --without-balancer lb1.example.com   # lb1 of a pair is lost',
  ];
  static override flags = {
    watch: Flags.boolean({
      description:
        'read it again and again until Ctrl-C (the run under way, members per cluster, in-flight sessions, ' +
        "the lock); exits with the last reading's code",
    }),
    every: Flags.string({ description: 'with --watch: how often (default 2s)', helpValue: 'DURATION' }),
    'without-balancer': withoutBalancerFlag,
  };

  async run() {
    const { flags } = await this.parse(Status);
    const everyMs = watchEvery(flags);
    if (everyMs !== undefined && this.jsonEnabled())
      throw new UserError(
        '--watch shows a view for a person; with --json, run status once per reading',
        'e.g. watch -n 2 baton status --json, or baton status --watch',
      );
    const { config, notes } = applyWithoutBalancer(await this.loadConfig(flags), flags['without-balancer']);
    for (const line of notes) this.logToStderr(line);
    const session = await openSession(config, undefined, { secrets: 'balancer' });
    try {
      for (const line of await readRunRecord(config, session.transports)) this.logToStderr(line);
      if (everyMs !== undefined) {
        const stop = new AbortController();
        // Ctrl-C ends the watch, not the process: the reading under way finishes, then it exits.
        const leave = processInterrupts.enter({ first: () => stop.abort(), second: () => ExitCode.OK });
        try {
          process.exitCode = await watchStatus({
            everyMs,
            signal: stop.signal,
            tty: Boolean(process.stdout.isTTY),
            print: (frame) => this.log(frame),
            round: async () => {
              await readRunRecord(config, session.transports).catch(() => []);
              const report = await gatherStatus(session);
              return { text: statusText(report), exitCode: statusExitCode(report) };
            },
          });
        } finally {
          leave();
        }
        return undefined;
      }
      const report = await gatherStatus(session);
      if (!this.jsonEnabled()) this.log(statusText(report));
      // The report is still printed (and returned for --json); the exit code says it is incomplete.
      process.exitCode = statusExitCode(report);
      return report;
    } finally {
      await session.close();
    }
  }
}

/** The watch's interval in ms (undefined: no watch); --every without --watch, or a bad duration, is a usage error. */
function watchEvery(flags: { watch?: boolean; every?: string }): number | undefined {
  if (flags.every !== undefined && !flags.watch) throw new UserError('--every goes with --watch');
  if (!flags.watch) return undefined;
  return Math.max(200, durationFlagMs('--every', flags.every, 'e.g. --every 2s') ?? 2_000);
}
