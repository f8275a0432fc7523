// What a push of a release would leave as it is: a cluster whose every host already runs the
// release and is in the pool, serving, as a cluster at rest after a push is. Draining it to
// restart the same release would only interrupt someone (issue 32: "Terraform says No changes").
import type { ClusterId } from '../src/config/config.js';
import type { ObservedHost, ObservedState } from '../src/model/plan.js';
import type { Release } from '../src/model/release.js';

const CLUSTERS: readonly ClusterId[] = ['a', 'b'];

/** The host's `current` is the release's directory (its tag at its commit) and its member takes traffic, healthy. */
export function servesRelease(host: ObservedHost, release: Release): boolean {
  return host.release === release.dir && host.memberState === 'ready';
}

/** Clusters all of whose hosts serve the release: a push has nothing to do there. */
export function clustersServing(observed: ObservedState, release: Release): ClusterId[] {
  return CLUSTERS.filter((c) => observed.hosts.filter((h) => h.cluster === c).every((h) => servesRelease(h, release)));
}
