// Whether this process has begun a step that changes production. Exit codes are chosen by it:
// an error before any such step leaves production as it was (exit 1), whatever its kind.
let changed = false;

export function markProductionChanged(): void {
  changed = true;
}

export function productionMayHaveChanged(): boolean {
  return changed;
}
