// A built release tree packed the same way every time: GNU tar with names sorted, mtimes at the
// epoch, owners 0:0 and group/other write bits cleared, then GNU gzip -n (no name or time in the
// header) or zstd; the SHA-256 of the compressed bytes is what the plan records and each host
// checks. The same tree packs to the same bytes, so the hash names the content.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../errors.js';
import { loadExeca } from '../lazy-modules.js';

export type Compression = 'gzip' | 'zstd';

/** The file name ending an artifact of this compression has (also what hosts unpack by). */
export function artifactExtension(compression: Compression): string {
  return compression === 'zstd' ? 'tar.zst' : 'tar.gz';
}

/** One file or symbolic link of a packed tree, as the refusal of a changed artifact compares them. */
export interface ManifestEntry {
  path: string;
  /** Permission bits as packed (group/other write cleared), octal. */
  mode: string;
  size: number;
  /** SHA-256 of a file's content, or `-> target` for a symbolic link. */
  content: string;
}

// tar's --mode=go-w: what the archive holds, whatever umask the build ran under.
const packedMode = (mode: number) => (mode & 0o7755).toString(8);

/** Every file and symbolic link under `root` (only under `paths` when given), sorted by path. */
export async function manifestOf(root: string, paths?: readonly string[]): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    const abs = join(root, rel);
    const st = await lstat(abs);
    if (st.isDirectory()) {
      for (const name of await readdir(abs)) await visit(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) {
      out.push({ path: rel, mode: packedMode(st.mode), size: 0, content: `-> ${await readlink(abs)}` });
    } else if (st.isFile()) {
      out.push({ path: rel, mode: packedMode(st.mode), size: st.size, content: await sha256File(abs) });
    }
  };
  for (const p of paths ?? ['']) {
    await visit(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        throw new UserError(
          `artifact.paths: ${p} is not in the built tree`,
          'check artifact.paths against what artifact.build leaves',
        );
      throw err;
    });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The SHA-256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** The argv of GNU tar that writes `entries` of `root` to stdout, normalised as described above. */
export function tarArgv(root: string, entries: readonly string[]): string[] {
  return [
    'tar',
    '--create',
    '--file=-',
    '--format=gnu',
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mode=go-w',
    // Hard links are found by inode, which differs from one build to the next: store each as a file.
    '--hard-dereference',
    '-C',
    root,
    '--',
    ...entries,
  ];
}

export interface Packed {
  sha256: string;
  bytes: number;
}

/**
 * Pack `root` (or only `paths` of it) into `outFile` and hash what was written. The whole tree is
 * packed as its top-level entries, so names carry no `./`, as `git archive` writes them.
 */
export async function packTree(
  root: string,
  outFile: string,
  opts: { paths?: readonly string[]; compression: Compression },
): Promise<Packed> {
  const entries = opts.paths ? [...opts.paths] : (await readdir(root)).sort();
  if (!entries.length)
    throw new UserError(
      'the built tree is empty: nothing to pack',
      'check artifact.build: it runs in the exported tag and what it leaves there is packed',
    );
  await requireTools(opts.compression);
  const execa = await loadExeca();
  const [file, ...args] = tarArgv(root, entries);
  // LC_ALL=C: names sorted by bytes, not by the control machine's locale.
  const tar = execa(file as string, args, {
    env: { LC_ALL: 'C' },
    stdout: 'pipe',
    buffer: { stdout: false },
    reject: false,
  });
  // Compressors as child processes: node's zlib is Chromium's, whose output can depend on the
  // CPU's features; GNU gzip -n (no name, no time) and zstd in one thread give the same bytes on
  // any machine with the same version.
  const [cmd, ...cargs] =
    opts.compression === 'zstd' ? ['zstd', '-q', '-c', '-3', '--single-thread'] : ['gzip', '-n', '-6', '-c'];
  const zipper = execa(cmd as string, cargs, {
    stdin: 'pipe',
    stdout: 'pipe',
    buffer: { stdout: false },
    reject: false,
  });
  const compressor = Duplex.from({ writable: zipper.stdin, readable: zipper.stdout });
  const hash = createHash('sha256');
  let bytes = 0;
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const [tarEnd, , zipEnd] = await Promise.all([
    tar,
    pipeline(tar.stdout, compressor, tee, createWriteStream(outFile)),
    zipper,
  ]);
  for (const [what, end] of [
    ['tar', tarEnd],
    [cmd, zipEnd],
  ] as const) {
    if (end.exitCode !== 0)
      throw new UserError(
        `packing the built tree failed: ${what}` +
          ` exited ${end.exitCode ?? end.signal}: ${String(end.stderr).trim().slice(-500)}`,
      );
  }
  return { sha256: hash.digest('hex'), bytes };
}

let checked: Promise<void> | undefined;
const compressors: Partial<Record<'gzip' | 'zstd', Promise<void>>> = {};
/**
 * GNU tar's normalising options are what make the bytes the same: refuse another tar (or a missing zstd) before
 * building.
 */
export function requireTools(compression: Compression): Promise<void> {
  checked ??= loadExeca().then(async (execa) => {
    const r = await execa('tar', ['--version'], { reject: false });
    if (!/GNU tar/.test(String(r.stdout))) {
      throw new UserError(
        'artifact: needs GNU tar on the machine that runs baton, to pack the same tree to the same bytes',
        'install GNU tar (on macOS: brew install gnu-tar, and put its gnubin first on PATH)',
      );
    }
  });
  const tool = compression === 'zstd' ? 'zstd' : 'gzip';
  compressors[tool] ??= loadExeca().then(async (execa) => {
    const r = await execa(tool, ['--version'], { reject: false });
    if (r.exitCode !== 0)
      throw new UserError(
        `artifact.compression is ${compression}, but ${tool} is not installed on the machine that runs baton`,
        `install ${tool}${tool === 'zstd' ? ' (and on every host), or use compression: gzip' : ''}`,
      );
  });
  return Promise.all([checked, compressors[tool]]).then(() => undefined);
}
