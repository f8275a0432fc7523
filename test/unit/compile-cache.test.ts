// Where bin/run.js keeps Node's compile cache, and that a folder it cannot write never stops a command.
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { compileCacheDir, enableCompileCache, writableDir } from '../../src/cli/compile-cache.js';
import type { EnableCompileCache } from '../../src/cli/compile-cache.js';

const ROOT = join(import.meta.dirname, '../..');
const scratch = () => mkdtempSync(join(tmpdir(), 'baton-compile-cache-'));

/** A stand-in for Node's enableCompileCache that answers `status` and notes each folder it was given. */
function fakeEnable(status = 1) {
  const calls: (string | undefined)[] = [];
  const enable: EnableCompileCache = (dir) => {
    calls.push(dir);
    return { status };
  };
  return { enable, calls };
}

describe('compileCacheDir', () => {
  it('is under $XDG_CACHE_HOME when set, else under ~/.cache', () => {
    expect(compileCacheDir({ XDG_CACHE_HOME: '/x/cache' }, () => '/home/op')).toBe('/x/cache/baton/compile-cache');
    expect(compileCacheDir({}, () => '/home/op')).toBe('/home/op/.cache/baton/compile-cache');
  });

  it('leaves the choice to Node when NODE_COMPILE_CACHE names a folder or no home is known', () => {
    expect(compileCacheDir({ NODE_COMPILE_CACHE: '/y', XDG_CACHE_HOME: '/x' }, () => '/home/op')).toBeUndefined();
    expect(compileCacheDir({}, () => '')).toBeUndefined();
    expect(
      compileCacheDir({}, () => {
        throw new Error('no passwd entry');
      }),
    ).toBeUndefined();
  });
});

describe('writableDir', () => {
  it('makes the missing folders and says yes', () => {
    const dir = join(scratch(), 'a', 'b', 'c');
    expect(writableDir(dir)).toBe(true);
    expect(existsSync(dir)).toBe(true);
  });

  it('says no, at once, under a file and under /proc (where a recursive mkdir never returns)', () => {
    const file = join(scratch(), 'file');
    writeFileSync(file, '');
    expect(writableDir(join(file, 'sub'))).toBe(false);
    expect(writableDir('/proc/baton-no-such/compile-cache')).toBe(false);
  });
});

describe('enableCompileCache', () => {
  it('does nothing on a runtime without a compile cache (Node 20)', () => {
    expect(enableCompileCache({}, null)).toBe('unavailable');
  });

  it("turns the cache on in baton's folder", () => {
    const cache = scratch();
    const fake = fakeEnable();
    expect(enableCompileCache({ XDG_CACHE_HOME: cache }, fake.enable)).toBe('on');
    expect(fake.calls).toEqual([join(cache, 'baton', 'compile-cache')]);
  });

  it("falls back to Node's default folder when baton's cannot be written", () => {
    const file = join(scratch(), 'file');
    writeFileSync(file, '');
    const fake = fakeEnable();
    expect(enableCompileCache({ XDG_CACHE_HOME: file }, fake.enable)).toBe('on-in-default-folder');
    expect(fake.calls).toEqual([undefined]);
  });

  it('says off when NODE_DISABLE_COMPILE_CACHE turned it off, failed when Node failed or threw', () => {
    expect(enableCompileCache({ XDG_CACHE_HOME: scratch() }, fakeEnable(3).enable)).toBe('off');
    expect(enableCompileCache({ XDG_CACHE_HOME: scratch() }, fakeEnable(0).enable)).toBe('failed');
    const throwing: EnableCompileCache = () => {
      throw new Error('EACCES');
    };
    expect(enableCompileCache({ XDG_CACHE_HOME: scratch() }, throwing)).toBe('failed');
  });
});

const withoutCacheSettings = (env: NodeJS.ProcessEnv) =>
  Object.fromEntries(
    Object.entries(env).filter(([k]) => k !== 'NODE_COMPILE_CACHE' && k !== 'NODE_DISABLE_COMPILE_CACHE'),
  );

describe('the built CLI', { timeout: 60_000 }, () => {
  const baton = (env: Record<string, string>) =>
    execa(process.execPath, [join(ROOT, 'bin/run.js'), '--version'], {
      cwd: ROOT,
      reject: false,
      // Node reads NODE_DISABLE_COMPILE_CACHE set to anything, even empty, as "off".
      env: { ...withoutCacheSettings(process.env), ...env },
      extendEnv: false,
    });
  const hasCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';

  it(`keeps compiled code under $XDG_CACHE_HOME/baton where this Node has a cache (here: ${hasCache})`, async () => {
    const cache = scratch();
    const r = await baton({ XDG_CACHE_HOME: cache });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^baton\/\d/);
    const dir = join(cache, 'baton', 'compile-cache');
    if (hasCache) expect(readdirSync(dir).length).toBeGreaterThan(0);
    else expect(existsSync(dir)).toBe(false);
  });

  it('starts as usual when that folder cannot be made', async () => {
    const file = join(scratch(), 'file');
    writeFileSync(file, '');
    const r = await baton({ XDG_CACHE_HOME: file });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^baton\/\d/);
    expect(r.stderr).toBe('');
  });
});
