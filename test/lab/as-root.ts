// The lab's console: a shell command as root inside one host (its namespaces, through
// `lab.sh exec`), for tests and benchmarks that set up or break things behind baton's back.
// Baton itself never gets here: the hosts refuse root logins over SSH.
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** test/lab/lab.sh, found from this file in the checkout or in dist/. */
const LAB_SH = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../../test/lab/lab.sh' : './lab.sh', import.meta.url),
);

/** `command` run by sh as root on `host` (FQDN, short name or id): its stdout, trimmed; throws on a non-zero exit. */
export async function asRoot(host: string, command: string, input?: string): Promise<string> {
  const r = await execa('bash', [LAB_SH, 'exec', host, '--', 'sh', '-c', command], {
    timeout: 30_000,
    ...(input !== undefined ? { input } : {}),
  });
  return r.stdout.trim();
}
