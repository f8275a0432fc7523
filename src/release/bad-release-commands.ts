// Pure builders of the commands that keep the list of bad releases on the balancer host: argv
// only. The list's path (from lock.path and app.name) and the release travel as positional
// parameters, never spliced into the script.

/** The list, one release a line; fails when there is no list yet (callers allow that: none marked). */
export function listBadReleases(file: string): string[] {
  return ['cat', file];
}

/** Add `dir` to the list unless it is there (its folder made first); a whole-line, literal match. */
export function markBadRelease(file: string, dir: string): string[] {
  return [
    'sh',
    '-c',
    'mkdir -p "$(dirname "$1")" && { grep -qxF -e "$2" "$1" 2>/dev/null || printf "%s\\n" "$2" >> "$1"; }',
    'sh',
    file,
    dir,
  ];
}
