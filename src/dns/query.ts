// Asks one authoritative server directly (UDP, TCP when the answer is truncated), with
// recursion off: TTLs come back as the zone serves them, not decremented by a cache, and the
// AA flag says whether the server really speaks for the name. Node's resolver shows neither.
import { createSocket } from 'node:dgram';
import { Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';
import { UserError } from '../errors.js';

export interface DnsRecord {
  name: string;
  type: string;
  ttl: number;
  /** Address, target name, or for SOA the serial. */
  data: string;
}

export interface Soa {
  serial: number;
  /** SOA MINIMUM: the negative-caching TTL (RFC 2308), together with the SOA's own TTL. */
  minimum: number;
  ttl: number;
}

export interface DnsAnswer {
  server: string;
  rcode: string;
  authoritative: boolean;
  answers: DnsRecord[];
  /** The SOA of the authority section (NXDOMAIN/NODATA answers carry it). */
  soa?: Soa;
}

/** Sends one question to one server; what the DNS observation code is tested against. */
export type DnsQuery = (server: string, name: string, type: RecordType) => Promise<DnsAnswer>;

const TIMEOUT_MS = 2000;

/** The real query: UDP with one retry, TCP when truncated. */
export const queryAuthoritative: DnsQuery = async (server, name, type) => {
  const question = {
    type: 'query' as const,
    id: Math.floor(Math.random() * 65535),
    flags: 0,
    questions: [{ type, name, class: 'IN' as const }],
  };
  let packet: DecodedPacket | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < 2 && !packet; attempt++) {
    try {
      packet = await udp(server, dnsPacket.encode(question), question.id);
    } catch (err) {
      lastError = err;
    }
  }
  if (!packet)
    throw new UserError(
      `DNS server ${server} did not answer ${type} ${name}: ${(lastError as Error).message}`,
      'check dns.nameserver and that the server is reachable on port 53; nothing was changed',
      'unchanged',
    );
  if (packet.flag_tc) packet = await tcp(server, dnsPacket.streamEncode(question), question.id);
  return toAnswer(server, packet);
};

/** The parts of a decoded packet baton uses (exported for tests). */
export function toAnswer(server: string, p: DecodedPacket): DnsAnswer {
  const rcode = (p as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR';
  // An SOA question answers in the answer section; NXDOMAIN and NODATA carry it in authority.
  const soaRecord = [...(p.answers ?? []), ...(p.authorities ?? [])].find((a) => a.type === 'SOA');
  const soaData =
    soaRecord && 'data' in soaRecord ? (soaRecord.data as { serial: number; minimum: number }) : undefined;
  return {
    server,
    rcode,
    authoritative: p.flag_aa,
    answers: (p.answers ?? []).flatMap((a) =>
      a.type === 'OPT' ? [] : [{ name: a.name, type: a.type, ttl: a.ttl ?? 0, data: recordData(a) }],
    ),
    ...(soaData && soaRecord && { soa: { serial: soaData.serial, minimum: soaData.minimum, ttl: soaRecord.ttl ?? 0 } }),
  };
}

function recordData(a: dnsPacket.Answer): string {
  if (a.type === 'SOA') return String((a.data as { serial: number }).serial);
  const d = (a as { data?: unknown }).data;
  return typeof d === 'string' ? d : JSON.stringify(d);
}

function udp(server: string, message: Buffer, id: number): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => done(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const done = (err?: Error, packet?: DecodedPacket) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(packet as DecodedPacket);
    };
    socket.on('error', (err) => done(err));
    socket.on('message', (msg) => {
      const packet = dnsPacket.decode(msg);
      if (packet.id === id) done(undefined, packet);
    });
    socket.send(message, 53, server);
  });
}

function tcp(server: string, message: Buffer, id: number): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buffer = Buffer.alloc(0);
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error(`no TCP answer within ${TIMEOUT_MS} ms`)));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        const packet = dnsPacket.decode(buffer.subarray(2, 2 + buffer.readUInt16BE(0)));
        socket.end();
        if (packet.id === id) resolve(packet);
        else reject(new Error('TCP answer for another question'));
      }
    });
    socket.connect(53, server, () => socket.write(message));
  });
}
