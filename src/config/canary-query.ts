// What a canary's Prometheus query (canary.analysis.query) may say: the placeholders that name
// the canary and the stable cluster inside its PromQL, and the Prometheus URL it is asked at.
// Checked here so baton.yml's error points at the line; substituted in src/model/canary-query.ts.

/** The placeholders a query may use (`$name` or `${name}`), each substituted when the plan is made. */
export const QUERY_PLACEHOLDERS = {
  canary: 'the canary cluster: a or b',
  stable: 'the stable cluster: b or a',
  canaryHosts: "the canary cluster's hosts as baton.yml names them, as a regular expression (web-1\\\\.a|web-2\\\\.a)",
  stableHosts: "the stable cluster's hosts, the same way",
  canaryMembers: "the canary cluster's balancer members in the pool, as a regular expression (web1a|web2a)",
  stableMembers: "the stable cluster's balancer members in the pool, the same way",
} as const;
export type QueryPlaceholder = keyof typeof QUERY_PLACEHOLDERS;

/** `$name` or `${name}`: PromQL itself has no `$`, so every one is a placeholder. */
export const PLACEHOLDER_PATTERN = /\$(?:\{(\w*)\}|(\w*))/g;

const isPlaceholder = (name: string): name is QueryPlaceholder => Object.hasOwn(QUERY_PLACEHOLDERS, name);

/** What is wrong with a query's placeholders (an unknown name, a bare `$`), or undefined. */
export function placeholderProblem(query: string): string | undefined {
  for (const m of query.matchAll(PLACEHOLDER_PATTERN)) {
    const name = m[1] ?? m[2] ?? '';
    if (!isPlaceholder(name))
      return (
        `${name ? `unknown placeholder $${name}` : 'a $ that names no placeholder'}; ` +
        `a query may name ${Object.keys(QUERY_PLACEHOLDERS)
          .map((p) => `$${p}`)
          .join(', ')} (write \${canary}_x where a letter follows)`
      );
  }
  return undefined;
}

/**
 * What is wrong with a Prometheus base URL written in baton.yml, or undefined: a password in it is a secret written
 * inline (the URL then belongs in `secrets:`, given here as {secret: NAME}); baton adds the path and the query.
 */
export function prometheusUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected an http:// or https:// URL such as http://prometheus.example.com:9090';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return 'expected an http:// or https:// URL such as http://prometheus.example.com:9090';
  if (u.password)
    return (
      'the URL holds a password written inline; secrets are references, read at run time: name the URL under ' +
      '`secrets:` and give it here as {secret: NAME}'
    );
  if (u.search || u.hash)
    return 'expected the base URL of Prometheus, without ?query or #fragment (baton asks /api/v1/query_range there)';
  return undefined;
}
