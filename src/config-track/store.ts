// The snapshot repository on the control machine: per host a manifest (every tracked path with
// its kind, mode, owner and hash) and the content of its files, one commit per snapshot run.
//   <host>/manifest.json     the entries, sorted by path
//   <host>/files/<abs path>  each readable file's content
//   <host>/packages.txt      the installed package list
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { UserError } from '../errors.js';
import { PACKAGES, type TrackedEntry } from './host-files.js';
import type { TrackRole } from './tracked-hosts.js';
import { loadExeca } from '../lazy-modules.js';

export const MANIFEST_FORMAT = 'baton-snapshot/1';

export interface HostManifest {
  format: typeof MANIFEST_FORMAT;
  host: string;
  roles: TrackRole[];
  entries: TrackedEntry[];
}

/** Where in the repository a host's file (or its package list) is kept. */
export function storedPath(host: string, path: string): string {
  return path === PACKAGES ? `${host}/packages.txt` : `${host}/files${path}`;
}

/** One digest of everything a listing says: equal digests, nothing tracked changed. */
export function entriesDigest(entries: readonly TrackedEntry[]): string {
  const canonical = entries
    .map((e) => [e.path, e.kind, e.mode ?? '', e.owner ?? '', e.sha256 ?? '', e.target ?? ''].join('\t'))
    .join('\n');
  return createHash('sha256').update(canonical).digest('hex');
}

export class SnapshotStore {
  private constructor(
    readonly dir: string,
    private readonly git: SimpleGit,
  ) {}

  /** Opens the repository, creating it when `create` and it does not exist yet. */
  static async open(dir: string, opts: { create?: boolean } = {}): Promise<SnapshotStore> {
    if (!existsSync(join(dir, '.git'))) {
      if (!opts.create)
        throw new UserError(`no snapshot repository at ${dir} yet`, 'take the first snapshot: baton snapshot');
      if (existsSync(dir)) {
        if ((await readdir(dir)).length > 0)
          throw new UserError(
            `${dir} exists and is not a git repository`,
            'point track.repo at an empty folder or an existing snapshot repository',
          );
      }
      await mkdir(dir, { recursive: true });
      await simpleGit({ baseDir: dir }).init(['--quiet']);
    }
    return new SnapshotStore(dir, simpleGit({ baseDir: dir }));
  }

  /** The commit the repository is at, or null before the first snapshot. */
  async head(): Promise<string | null> {
    const out = await this.git.raw(['rev-parse', '--verify', '--quiet', 'HEAD']).catch(() => '');
    return /^[0-9a-f]{40,64}$/.test(out.trim()) ? out.trim() : null;
  }

  /** The full id of a (possibly abbreviated) commit of this repository; a usage error when it has none such. */
  async resolveCommit(commit: string): Promise<string> {
    const r = await (
      await loadExeca()
    )('git', ['-C', this.dir, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${commit}^{commit}`], {
      reject: false,
    });
    if (r.exitCode !== 0)
      throw new UserError(
        `${commit} is not a commit of the snapshot repository ${this.dir}`,
        `see its commits: git -C ${this.dir} log --oneline`,
      );
    return r.stdout.trim();
  }

  /** A host's manifest at `commit` (default: the working tree, which is the last snapshot). */
  async manifest(host: string, commit?: string): Promise<HostManifest | null> {
    const text = await this.read(`${host}/manifest.json`, commit);
    if (text === null) return null;
    const m = JSON.parse(text.toString('utf8')) as HostManifest;
    if (m.format !== MANIFEST_FORMAT)
      throw new UserError(
        `${host}/manifest.json in ${this.dir} is not a baton snapshot manifest (${String(m.format)})`,
      );
    return m;
  }

  /** A stored file's content at `commit` (default: the working tree), null when not stored. */
  async read(relative: string, commit?: string): Promise<Buffer | null> {
    if (commit === undefined) return readFile(join(this.dir, relative)).catch(() => null);
    // execa, not simple-git: the content may be binary, and raw() decodes it as text.
    const r = await (
      await loadExeca()
    )('git', ['-C', this.dir, 'show', `${commit}:${relative}`], {
      encoding: 'buffer',
      reject: false,
      stripFinalNewline: false,
    });
    return r.exitCode === 0 ? Buffer.from(r.stdout) : null;
  }

  async writeFile(relative: string, content: Buffer | string): Promise<void> {
    const file = join(this.dir, relative);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }

  async remove(relative: string): Promise<void> {
    await rm(join(this.dir, relative), { force: true });
  }

  async writeManifest(m: HostManifest): Promise<void> {
    await this.writeFile(`${m.host}/manifest.json`, `${JSON.stringify(m, null, 2)}\n`);
  }

  /** Commits everything written; returns the new commit, or null when nothing changed. */
  async commit(message: string, author: string): Promise<string | null> {
    await this.git.raw(['add', '--all']);
    const staged = await this.git.raw(['status', '--porcelain']);
    if (staged.trim() === '') return null;
    const email = author.includes('@') ? author : `${author}@baton`;
    const file = join(this.dir, '.git', 'BATON_SNAPSHOT_MSG');
    await writeFile(file, message);
    await this.git.raw([
      '-c',
      `user.name=${author}`,
      '-c',
      `user.email=${email}`,
      'commit',
      '--quiet',
      '--no-verify',
      '--file',
      file,
    ]);
    return this.head();
  }
}
