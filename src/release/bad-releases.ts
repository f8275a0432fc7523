// Releases marked bad (a push of them was reversed, or they were rolled back): kept on the
// balancer host beside the lock so every operator sees them; a rollback never lands on one.
import { posix } from 'node:path';
import type { Config } from '../config/config.js';
import { scopedToEnvironment } from '../config/environment.js';
import type { Transport } from '../transport/types.js';
import { listBadReleases, markBadRelease } from './bad-release-commands.js';

export class BadReleases {
  private readonly file: string;

  constructor(
    private readonly transport: Transport,
    config: Pick<Config, 'lock' | 'app' | 'environment'>,
  ) {
    // Per environment: a release reversed in staging does not stop production rolling back to it.
    this.file = posix.join(
      posix.dirname(config.lock.path),
      `${scopedToEnvironment(config.app.name, config.environment)}.bad-releases`,
    );
  }

  async list(): Promise<Set<string>> {
    const r = await this.transport.run(listBadReleases(this.file), { allowFailure: true });
    return new Set(
      r.code === 0
        ? r.stdout
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
        : [],
    );
  }

  async mark(dir: string): Promise<void> {
    await this.transport.run(markBadRelease(this.file, dir));
  }
}
