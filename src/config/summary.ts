// One line that tells a person what baton understood from baton.yml.
import type { Config } from './config.js';

export function summarizeConfig(config: Config): string {
  const { app, balancer, clusters, smoke } = config;
  const checks = smoke.checks.length;
  return [
    `app ${app.name}`,
    `${clusters.a.hosts.length}+${clusters.b.hosts.length} hosts`,
    `balancer ${balancer.driver} ` +
      `on ${balancer.host}${balancer.peers?.length ? ` and its peers ${balancer.peers.join(', ')}` : ''} ` +
      `(${balancer.driver === 'nginx' ? 'upstream' : 'backend'}` +
      ` ${balancer.backend}${balancer.driver === 'nginx' && balancer.mode === 'lua' ? ', mode lua: no reloads' : ''})`,
    `${checks} smoke check${checks === 1 ? '' : 's'}`,
    ...(config.migrate
      ? [
          `schema migrations on ${config.migrate.host} ` +
            `(${config.migrate.reverse ? 'reversible' : 'no reverse'}` +
            `${config.migrate.contract ? ', with contract' : ''})`,
        ]
      : []),
  ].join(', ');
}
