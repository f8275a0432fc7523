// Bastions (ssh.proxy / ProxyJump): one connection per jump host, shared by every host behind
// it and closed with the session; each host's connection then runs over a direct-tcpip channel
// the bastion opens to the host's HostName:Port. Every failure of that leg names both hosts.
import type { ClientChannel } from 'ssh2';
import { BatonError } from '../errors.js';
import { TransportError } from './errors.js';
import { HostKeyError } from './known-hosts.js';
import type { SshSettings, SshTarget } from './ssh-config.js';
import { connectTimeoutOf, dial, hangUp, type Connection, type DialOptions, type Through } from './ssh-connection.js';

const BASTION_HINT = 'check the bastion is up and reachable, and ssh.proxy (or ProxyJump) and ssh_config for it';

// SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 §5.1).
const ADMINISTRATIVELY_PROHIBITED = 1;
const CONNECT_FAILED = 2;

/** The connections to the bastions of one set of transports. */
export class Bastions {
  private readonly pool = new Map<string, { opening: Promise<Connection>; open?: Connection }>();
  /** Connections opened to bastions, for tests and benchmarks. */
  opened = 0;

  constructor(
    private readonly settings: SshSettings,
    private readonly options: DialOptions = {},
  ) {}

  /** A stream to `target`'s SSH port, forwarded by `bastion` within the connect timeout. */
  async forward(host: string, bastion: SshTarget, target: SshTarget): Promise<Through> {
    const prefix = `cannot reach ${host} through the bastion ${bastion.alias}`;
    let c: Connection;
    try {
      c = await this.connection(bastion);
    } catch (err) {
      if (err instanceof HostKeyError)
        throw new HostKeyError(err.host, err.status, err.fingerprint, `${prefix}: ${err.message}`, err.hint ?? '');
      throw new TransportError(
        host,
        `${prefix}: ${(err as Error).message}`,
        err instanceof BatonError ? (err.hint ?? BASTION_HINT) : BASTION_HINT,
      );
    }
    const sock = await forwardOut(c, target, connectTimeoutOf(this.settings)).catch(
      (err: Error & { reason?: number }) => {
        throw forwardError(host, prefix, target, err);
      },
    );
    return { sock, bastion: bastion.alias };
  }

  /** Hang up every bastion (after the hosts behind them). */
  async closeAll(): Promise<void> {
    const all = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(all.map(async (e) => e.opening.then(hangUp, () => undefined)));
  }

  /** The pooled connection to a bastion: the one being opened, else the open one, else a new one. */
  private connection(bastion: SshTarget): Promise<Connection> {
    const key = `${bastion.user}@${bastion.hostName}:${bastion.port}`;
    const pooled = this.pool.get(key);
    if (pooled && pooled.open?.alive !== false) return pooled.opening;
    this.opened++;
    const entry: { opening: Promise<Connection>; open?: Connection } = {
      opening: dial(bastion.alias, bastion, this.settings, this.options),
    };
    this.pool.set(key, entry);
    entry.opening.then(
      (c) => (entry.open = c),
      () => this.pool.get(key) === entry && this.pool.delete(key), // the next host tries again
    );
    return entry.opening;
  }
}

/** Ask the bastion for a channel to the target's SSH port; a bastion that never answers fails on time. */
function forwardOut(c: Connection, target: SshTarget, timeoutMs: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`no channel within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    try {
      c.client.forwardOut('127.0.0.1', 0, target.hostName, target.port, (err, stream) => {
        clearTimeout(timer);
        if (done) return void stream?.close(); // too late: nobody is waiting for it
        done = true;
        if (err) reject(err);
        else resolve(stream);
      });
    } catch (err) {
      // "Not connected": the bastion dropped between the pool's check and this request.
      clearTimeout(timer);
      reject(new Error(`the connection to the bastion was lost (${(err as Error).message})`));
    }
  });
}

/** Why the bastion gave no channel to the target, in words that say which side to fix. */
function forwardError(
  host: string,
  prefix: string,
  target: SshTarget,
  err: Error & { reason?: number },
): TransportError {
  const to = `${target.hostName}:${target.port}`;
  const said = err.message.replace(/^\(SSH\) Channel open failure: /, '');
  if (err.reason === ADMINISTRATIVELY_PROHIBITED) {
    return new TransportError(
      host,
      `${prefix}: the bastion refused to forward to ${to} (${said})`,
      'the bastion must allow TCP forwarding: AllowTcpForwarding yes in its sshd_config, ' +
        'and no restrict / no-port-forwarding on the key',
    );
  }
  if (err.reason === CONNECT_FAILED) {
    return new TransportError(
      host,
      `${prefix}: the bastion could not connect to ${to} (${said})`,
      'check the host is up and its SSH port reachable from the bastion, and ssh_config HostName / Port for it',
    );
  }
  return new TransportError(host, `${prefix}: the bastion opened no channel to ${to} (${said})`, BASTION_HINT);
}
