// Holding new connections for the moment the proxy takes the old web server's port. Without a
// gate, connections that arrive between the old server closing its socket and the proxy
// binding it are refused. With iproute2 alone (no netfilter tools needed) the host's outgoing
// SYN-ACKs and RSTs from that port are sent to a class that drops them: a client's SYN gets no
// answer, so it sends it again about a second later, by which time the proxy listens. Requests
// already in flight are untouched; clients only see that extra second.
import { raised } from '../transport/privilege.js';

/** The device that carries `address` on the host, from `ip -o -4 addr show to ADDRESS`. */
export function deviceFrom(ipOutput: string): string | undefined {
  const m = /^\d+:\s+([^\s:@]+)/m.exec(ipOutput);
  return m?.[1];
}

export function deviceArgv(address: string): string[] {
  return ['ip', '-o', '-4', 'addr', 'show', 'to', address];
}

/** `tc qdisc show dev DEV root` output of a device nobody configured: the gate may replace it. */
export function isDefaultRootQdisc(tcOutput: string): boolean {
  return /^qdisc (noqueue|pfifo_fast|mq|fq_codel|fq) 0: /m.test(tcOutput) || tcOutput.trim() === '';
}

export function showRootArgv(device: string): string[] {
  return ['tc', 'qdisc', 'show', 'dev', device, 'root'];
}

const HOLD_CLASS = '1:2';

/** The commands that close the gate for TCP `port` on `device`, in order. */
export function closeGateArgvs(device: string, port: number): string[][] {
  const tc = (...words: string[]) => ['tc', ...words];
  // IPv4 header of 20 bytes (IHL 5): TCP flags are the byte at offset 33. IPv6 (AAAA clients): the fixed
  // 40-byte header, TCP right after it (the host's own SYN-ACKs carry no extension header), flags at offset 53.
  // An argv in the groups tc reads it in (prettier would put each word on its own line).
  // prettier-ignore
  const match = (flagBit: string, prio: string) => tc(
    'filter', 'add', 'dev', device, 'parent', '1:', 'protocol', 'ip', 'prio', prio, 'u32',
    'match', 'ip', 'protocol', '6', '0xff',
    'match', 'ip', 'sport', String(port), '0xffff',
    'match', 'u8', '0x05', '0x0f', 'at', '0',
    'match', 'u8', flagBit, flagBit, 'at', '33',
    'flowid', HOLD_CLASS,
  );
  // prettier-ignore
  const match6 = (flagBit: string, prio: string) => tc(
    'filter', 'add', 'dev', device, 'parent', '1:', 'protocol', 'ipv6', 'prio', prio, 'u32',
    'match', 'ip6', 'protocol', '6', '0xff',
    'match', 'ip6', 'sport', String(port), '0xffff',
    'match', 'u8', flagBit, flagBit, 'at', '53',
    'flowid', HOLD_CLASS,
  );
  return [
    tc('qdisc', 'add', 'dev', device, 'root', 'handle', '1:', 'htb', 'default', '1'),
    tc('class', 'add', 'dev', device, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100gbit'),
    tc('class', 'add', 'dev', device, 'parent', '1:', 'classid', HOLD_CLASS, 'htb', 'rate', '8bit', 'ceil', '8bit'),
    tc('qdisc', 'add', 'dev', device, 'parent', HOLD_CLASS, 'handle', '20:', 'pfifo', 'limit', '0'),
    match('0x02', '1'), // SYN (the SYN-ACK answering a new connection)
    match('0x04', '2'), // RST (the refusal while nothing listens)
    match6('0x02', '3'), // the same over IPv6
    match6('0x04', '4'),
  ];
}

/**
 * The same commands as one `tc -batch -` input: one exec instead of eight (the gate closes sooner). Raised: queueing is
 * root's.
 */
export function closeGateBatch(device: string, port: number, sudo: boolean): { argv: string[]; stdin: string } {
  if (!/^[A-Za-z0-9_.-]+$/.test(device))
    throw new TypeError(`device name ${JSON.stringify(device)} cannot go into a tc batch`);
  return {
    argv: raised(['tc', '-batch', '-'], sudo),
    stdin:
      closeGateArgvs(device, port)
        .map((a) => a.slice(1).join(' '))
        .join('\n') + '\n',
  };
}

/** Opens the gate: the device gets its default queueing back. */
export function openGateArgv(device: string, sudo: boolean): string[] {
  return raised(['tc', 'qdisc', 'del', 'dev', device, 'root'], sudo);
}
