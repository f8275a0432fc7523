// What the web server on a port still owes its clients, read from the kernel's socket table
// (`ss`), so the cut-over stops it only once stopping it cuts nobody off — whatever the server.
// A graceful stop (nginx -s quit, Apache graceful-stop, Node's server.close()) finishes the
// requests it is serving but closes every connection it considers idle, and a connection it
// accepted before the request arrived is idle to it; the kernel resets whatever waits in the
// listener's accept queue when the listener closes. To the client each is a request sent and
// never answered ("socket hang up", ECONNRESET). With new connections held by the gate, nothing
// new arrives, and these settle within a round trip or a request's time: baton waits for that.

/** One socket of `ss -Htni … sport = :PORT` (portSocketsArgv), with its info line. */
export interface PortSocket {
  state: string;
  recvQ: number;
  sendQ: number;
  local: string;
  peer: string;
  /** Segments carrying data, received and sent (tcp_info). */
  dataSegsIn: number;
  dataSegsOut: number;
  /** Milliseconds since data was last received and sent (tcp_info; ss leaves out a 0). */
  lastRcv: number;
  lastSnd: number;
  /** Smoothed round-trip time in ms, when the kernel has one. */
  rttMs?: number;
}

/**
 * The listeners and the connections of a local TCP port that may still carry a request (the
 * client's half open, or closed after it sent one: close-wait), with tcp_info (no root needed).
 */
export function portSocketsArgv(port: number): string[] {
  return ['ss', '-Htni', 'state', 'listening', 'state', 'established', 'state', 'close-wait', 'sport', '=', `:${port}`];
}

const num = (info: string, key: string): number => Number(new RegExp(`(?:^|\\s)${key}:(\\d+)`).exec(info)?.[1] ?? 0);

export function parsePortSockets(output: string): PortSocket[] {
  const sockets: PortSocket[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line)) {
      // The info line of the socket above it.
      const last = sockets.at(-1);
      if (!last) continue;
      last.dataSegsIn = num(line, 'data_segs_in');
      last.dataSegsOut = num(line, 'data_segs_out');
      last.lastRcv = num(line, 'lastrcv');
      last.lastSnd = num(line, 'lastsnd');
      const rtt = /(?:^|\s)rtt:([\d.]+)\//.exec(line)?.[1];
      if (rtt !== undefined) last.rttMs = Number(rtt);
      continue;
    }
    const [state, recvQ, sendQ, local, peer] = line.trim().split(/\s+/);
    if (!state || !/^\d+$/.test(recvQ ?? '') || !/^\d+$/.test(sendQ ?? '')) continue;
    sockets.push({
      state,
      recvQ: Number(recvQ),
      sendQ: Number(sendQ),
      local: local ?? '',
      peer: peer ?? '',
      dataSegsIn: 0,
      dataSegsOut: 0,
      lastRcv: 0,
      lastSnd: 0,
    });
  }
  return sockets;
}

type Owed = 'queued' | 'waiting' | 'unread' | 'answering' | 'sending';

/** What a connection is still owed, from the kernel's view of it; undefined: nothing (idle). */
export function owedBy(s: PortSocket): Owed | undefined {
  if (s.state !== 'ESTAB' && s.state !== 'CLOSE-WAIT') return undefined;
  if (s.recvQ > 0) return 'unread';
  if (s.dataSegsIn === 0) return 'waiting';
  // Received after it last sent (or never sent): a request being answered.
  if (s.dataSegsOut === 0 || s.lastRcv < s.lastSnd) return 'answering';
  if (s.sendQ > 0) return 'sending';
  return undefined;
}

const PHRASE: Record<Owed, [string, string]> = {
  queued: ['connection in the accept queue', 'connections in the accept queue'],
  waiting: ['connection accepted, its request not arrived', 'connections accepted, their requests not arrived'],
  unread: ['request not read yet', 'requests not read yet'],
  answering: ['request being answered', 'requests being answered'],
  sending: ['answer not delivered yet', 'answers not delivered yet'],
};

/**
 * What stopping the server now would cut, one phrase per kind (empty: nothing). Idle keep-alive
 * connections — a request answered, nothing since — are not counted: the server closes them,
 * and a client retries a request it sent on one as the close crossed it, before any answer byte.
 */
export function owed(sockets: readonly PortSocket[]): string[] {
  const count: Record<Owed, number> = { queued: 0, waiting: 0, unread: 0, answering: 0, sending: 0 };
  for (const s of sockets) {
    if (s.state === 'LISTEN') count.queued += s.recvQ;
    const o = owedBy(s);
    if (o) count[o] += 1;
  }
  return (Object.keys(PHRASE) as Owed[])
    .filter((k) => count[k] > 0)
    .map((k) => `${count[k]} ${PHRASE[k][count[k] === 1 ? 0 : 1]}`);
}

/** The longest smoothed round trip among the port's connections (ms). */
export function maxRttMs(sockets: readonly PortSocket[]): number {
  return Math.max(0, ...sockets.map((s) => s.rttMs ?? 0));
}
