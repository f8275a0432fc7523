// The hooks and notification targets a plan records, as a reviewer reads them: what runs on the
// machine running baton at which moment, and who is told what (never a URL's secret).
import type { HookConfig, HookName } from '../config/config.js';
import { HOOK_NAMES } from '../config/schema.js';
import type { Plan } from '../model/plan.js';

/** `./hooks/warm-cache (sh -c, 30s)` or `[./hooks/check, --strict] (no shell, 5s)`. */
export function hookCommand(hook: HookConfig): string {
  const limit = `${hook.timeoutMs % 1000 === 0 ? `${hook.timeoutMs / 1000}s` : `${hook.timeoutMs}ms`}`;
  return typeof hook.run === 'string'
    ? `${hook.run} (sh -c, at most ${limit})`
    : `${JSON.stringify(hook.run)} (no shell, at most ${limit})`;
}

/** The plan's hooks in the order a run meets them. */
export function plannedHooks(plan: Pick<Plan, 'hooks'>): [HookName, HookConfig][] {
  return HOOK_NAMES.flatMap((name) => (plan.hooks?.[name] ? [[name, plan.hooks[name]] as [HookName, HookConfig]] : []));
}

/** Lines for the text rendering of a plan (none when it has no hooks or notifications). */
export function hookLines(plan: Pick<Plan, 'hooks' | 'notify'>): string[] {
  const hooks = plannedHooks(plan);
  const notify = plan.notify ?? [];
  if (!hooks.length && !notify.length) return [];
  return [
    '',
    'Hooks (run on this machine) and notifications:',
    ...hooks.map(([name, hook]) => `  ${name.padEnd(16)} ${hookCommand(hook)}`),
    ...notify.map((n) => `  notify ${n.to} (${n.format}): ${n.events.join(', ')}`),
  ];
}

/** The markdown section of a plan (undefined when it has no hooks or notifications). */
export function hooksSection(plan: Pick<Plan, 'hooks' | 'notify'>, cell: (s: string) => string): string | undefined {
  const hooks = plannedHooks(plan);
  const notify = plan.notify ?? [];
  if (!hooks.length && !notify.length) return undefined;
  return [
    '## Hooks and notifications',
    '',
    ...(hooks.length
      ? [
          'Run on the machine running baton, with the run in `BATON_*` variables and the event as JSON on ' +
            'stdin; a failing `before-lock` refuses the run, any other is reported and changes nothing.',
          '',
          '| Moment | Command |',
          '|---|---|',
          ...hooks.map(([name, hook]) => `| \`${name}\` | ${cell(`\`${hookCommand(hook)}\``)} |`),
        ]
      : []),
    ...(notify.length
      ? [
          ...(hooks.length ? [''] : []),
          '| Notified | Format | Events |',
          '|---|---|---|',
          ...notify.map((n) => `| ${cell(n.to)} | ${n.format} | ${n.events.join(', ')} |`),
        ]
      : []),
  ].join('\n');
}
