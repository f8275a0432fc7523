// What a CI pipeline's runner brings to the lab: baton as a package, a HOME of its own, the deploy
// key in an ssh-agent, and a baton.yml that names neither the lab's key nor its known_hosts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { writeLabConfig } from '../../../bench/lab-config.js';
import { repoRoot } from '../../../bench/repo-root.js';

export const LAB_KEY = '/run/baton-lab/id_ed25519';
export const LAB_KNOWN_HOSTS = '/run/baton-lab/known_hosts';
const LAB_SSH_CONFIG = '/run/baton-lab/ssh_config';

/**
 * The lab's baton.yml as a pipeline's checkout holds it: no ssh.identity (the agent is used), no
 * ssh.config of the lab's, known_hosts at ~/.ssh/known_hosts (the default, written by the pipeline).
 */
export function agentLabConfig(file: string): string {
  writeLabConfig(file);
  const doc = parseDocument(readFileSync(file, 'utf8'));
  doc.deleteIn(['ssh', 'identity']);
  doc.deleteIn(['ssh', 'config']);
  doc.setIn(['ssh', 'knownHosts'], '~/.ssh/known_hosts');
  writeFileSync(file, doc.toString());
  return file;
}

/**
 * A runner's HOME: ~/.ssh/config naming the lab's hosts (their addresses and user, as a runner's DNS
 * would), with the lab's IdentityFile and known_hosts lines taken out, so only what the pipeline
 * sets up (the agent, ~/.ssh/known_hosts) can let baton in. `withKnownHosts` adds the lab's
 * known_hosts (for the plan's author, at a desk).
 */
export function runnerHome(dir: string, withKnownHosts = false): string {
  mkdirSync(join(dir, '.ssh'), { recursive: true, mode: 0o700 });
  const config = readFileSync(LAB_SSH_CONFIG, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(IdentityFile|IdentitiesOnly|UserKnownHostsFile|GlobalKnownHostsFile)\b/i.test(l))
    .join('\n');
  writeFileSync(join(dir, '.ssh/config'), config, { mode: 0o600 });
  if (withKnownHosts) writeFileSync(join(dir, '.ssh/known_hosts'), readFileSync(LAB_KNOWN_HOSTS), { mode: 0o600 });
  return dir;
}

/** `npm pack` of this checkout as built (npm run build first), into `dir`: the tarball's path. */
export async function packBaton(dir: string): Promise<string> {
  const root = repoRoot();
  for (const built of ['dist/cli/commands/apply.js', 'oclif.manifest.json']) {
    if (!existsSync(join(root, built)))
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does)`);
  }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  await execa('npm', ['pack', '--pack-destination', dir, '--ignore-scripts', '--silent'], { cwd: root });
  return join(dir, `baton-${version}.tgz`);
}

/** An ssh-agent of the test's own holding the lab's key (for the plan's author); stop() ends it. */
export function labKeyAgent(socket: string): { socket: string; stop(): void } {
  const out = execFileSync('ssh-agent', ['-a', socket, '-s'], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
  const added = spawnSync('ssh-add', ['-q', '-'], {
    input: readFileSync(LAB_KEY),
    env: { ...process.env, SSH_AUTH_SOCK: socket },
  });
  if (added.status !== 0) {
    process.kill(pid);
    throw new Error(`ssh-add of the lab key failed: ${added.stderr}`);
  }
  return {
    socket,
    stop: () => {
      try {
        process.kill(pid);
      } catch {
        // already gone
      }
    },
  };
}
