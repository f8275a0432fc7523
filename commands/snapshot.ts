import { Args } from '@oclif/core';
import { BatonCommand } from '../src/cli/base-command.js';
import { takeSnapshot } from '../src/config-track/snapshot.js';
import { openSession } from '../src/engine/session.js';
import { actor } from '../src/release/actor.js';
import { snapshotText } from '../src/render/config-track.js';
import { notReachedError } from '../src/transport/fan-out.js';

export default class Snapshot extends BatonCommand {
  static override summary =
    "Commit each host's tracked configuration (track: in baton.yml) to the snapshot repository: " +
    'one commit a run, naming what changed where.';
  static override description =
    'Reads only files whose content changed since the last snapshot; ' +
    'paths matching track.exclude are never read. A file it could not read is listed in the output and the ' +
    'commit message. Exits 0 when every host was read, 1 when some could not be reached (the others are ' +
    'committed).';
  static override examples = ['<%= config.bin %> snapshot', '<%= config.bin %> snapshot web1a.example.com --json'];
  static override strict = false;
  static override args = {
    host: Args.string({ description: 'hosts to snapshot (default: every app host and balancer)' }),
  };

  async run() {
    const { argv, flags } = await this.parse(Snapshot);
    const config = await this.loadConfig(flags);
    const session = await openSession(config, undefined, { secrets: 'none' });
    try {
      const result = await takeSnapshot(config, session.transports, argv as string[], actor());
      if (!this.jsonEnabled()) this.log(snapshotText(result));
      if (result.failed.length > 0) {
        const others =
          result.hosts.length === 0
            ? 'nothing was committed'
            : result.commit
              ? `the other ${result.hosts.length} were committed`
              : `the other ${result.hosts.length} had not changed`;
        throw notReachedError(result.failed, `their last snapshot stands; ${others}`, 'snapshot', { counted: true });
      }
      return result;
    } finally {
      await session.close();
    }
  }
}
