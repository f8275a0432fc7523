// Pure builders of the commands a restore runs on the host it puts back: argv only. Paths, modes,
// owners, link targets and package names travel as positional parameters of fixed scripts.
import type { TrackedEntry } from './host-files.js';

// Folders, files and links, each as `kind path mode owner target`; contents arrive as a tar on stdin.
const APPLY_FILES = [
  'set -u',
  'tmp=$(mktemp -d) || exit 1',
  'trap \'rm -rf "$tmp"\' EXIT',
  'tar -xzf - -C "$tmp" || { echo "cannot unpack the configuration archive" >&2; exit 1; }',
  'failed=0',
  'fail() { echo "$1" >&2; failed=$((failed + 1)); }',
  'while [ $# -ge 5 ]; do',
  '  kind=$1 path=$2 mode=$3 owner=$4 target=$5; shift 5',
  '  case $kind in',
  '    dir) mkdir -p -- "$path" || { fail "$path: cannot create the folder"; continue; } ;;',
  '    file) mkdir -p -- "$(dirname -- "$path")" && cp -- "$tmp/files$path" "$path.baton-restore" && mv -f ' +
    '-- "$path.baton-restore" "$path" || { fail "$path: cannot write it"; continue; } ;;',
  '    link) mkdir -p -- "$(dirname -- "$path")" && ln -sfn -- "$target" "$path.baton-restore" && mv -Tf -- ' +
    '"$path.baton-restore" "$path" || { fail "$path: cannot link it"; continue; } ;;',
  '  esac',
  '  [ "$kind" = link ] || [ "$mode" = - ] || chmod -- "$mode" "$path" || fail "$path: cannot set mode $mode"',
  '  [ "$owner" = - ] || chown -h -- "$owner" "$path" || fail "$path: ' +
    'cannot give it to $owner (does the user exist yet? install the packages first)"',
  'done',
  '[ "$failed" -eq 0 ] || { echo "$failed of the configuration entries could not be put back" >&2; exit 1; }',
].join('\n');

// The first argument is `sudo` (raise the install when not root) or `-`; each other is `name=version`:
// install the packages the host lacks (by name; a different version is reported, not forced: the
// distribution may no longer carry the recorded one). Only apt-get is raised: sudoers can name it.
const INSTALL_PACKAGES = [
  'raise=; if [ "$1" = sudo ] && [ "$(id -u)" != 0 ]; then raise="sudo -n --"; fi; shift',
  'command -v dpkg-query >/dev/null 2>&1 || { echo "no dpkg on this host: ' +
    'install the recorded packages by hand" >&2; exit 0; }',
  'tmp=$(mktemp -d) || exit 1',
  'trap \'rm -rf "$tmp"\' EXIT',
  // One dpkg-query for all of them: asking package by package takes half a minute for a few hundred.
  'for p; do printf "%s\\n" "${p%%=*}"; done | LC_ALL=C sort -u > "$tmp/want"',
  'dpkg-query -W -f "\\${Package}\\t\\${Status}\\n" 2>/dev/null | awk -F "\\t" \'$2 ~ / installed$/ { print ' +
    '$1 }\' | LC_ALL=C sort -u > "$tmp/have"',
  'missing=$(LC_ALL=C comm -23 "$tmp/want" "$tmp/have" | tr "\\n" " ")',
  '[ -z "$missing" ] && { echo "installed: none missing"; exit 0; }',
  'echo "installing: $missing"',
  '# shellcheck disable=SC2086',
  'DEBIAN_FRONTEND=noninteractive $raise apt-get install -y --no-install-recommends -- $missing',
].join('\n');

// The script word-splits the names it installs: only `name=version` made of a package name's
// characters reaches it (a package name never holds a space); any other line is left out.
const PACKAGE = /^[a-z0-9][a-z0-9+.:~-]*=[A-Za-z0-9+.:~_-]*$/;

/** Install the recorded packages (`name=version`) the host lacks; `sudo`: raise apt-get when not root. */
export function installPackages(packages: readonly string[], sudo: boolean): string[] {
  return ['sh', '-c', INSTALL_PACKAGES, 'sh', sudo ? 'sudo' : '-', ...packages.filter((p) => PACKAGE.test(p))];
}

/**
 * Put back folders, files and links in this order, with their modes and owners; the files' contents arrive on stdin as
 * a tar.gz of files/<path>.
 */
export function applyFiles(entries: readonly TrackedEntry[]): string[] {
  const args = entries.flatMap((e) => [e.kind, e.path, e.mode ?? '-', e.owner ?? '-', e.target ?? '-']);
  return ['sh', '-c', APPLY_FILES, 'sh', ...args];
}
