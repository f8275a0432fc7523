import { describe, expect, it } from 'vitest';
import { parseSs } from '../../src/balancers/nginx-commands.js';
import { carriesRequest } from '../../src/balancers/tcp-busy.js';

// `ss -Htinp state established` as a deploy user sees it on a balancer host: no process column,
// one indented detail line a connection (captured shapes, trimmed to the fields baton reads).
const BALANCER_SIDE = [
  // an idle pooled keep-alive connection: its last answer came 40 s ago, after the request
  '0      0      10.213.7.2:40010 10.213.7.11:8000',
  '\t cubic wscale:7,7 rto:204 bytes_sent:4210 bytes_acked:4211 bytes_received:9120 lastsnd:40120 ' +
    'lastrcv:40116 lastack:40116',
  // a request sent 1.5 s ago on a reused connection, not answered yet
  '0      0      10.213.7.2:40012 10.213.7.11:8000',
  '\t cubic bytes_sent:900 bytes_acked:901 bytes_received:2400 lastsnd:1500 lastrcv:9000 lastack:1500',
  // a new connection whose first request (sent in the tick it opened) is still unanswered
  '0      0      10.213.7.2:40014 10.213.7.11:8000',
  '\t cubic bytes_sent:80 bytes_acked:81 lastsnd:2000 lastrcv:2000 lastack:2000',
  // a fast request and its answer in one kernel tick, 30 s ago: idle
  '0      0      10.213.7.2:40016 10.213.7.11:8000',
  '\t cubic bytes_sent:160 bytes_acked:161 bytes_received:400 lastsnd:30000 lastrcv:30000 lastack:30000',
  // an answer still streaming in: data 100 ms ago
  '0      0      10.213.7.2:40018 10.213.7.11:8000',
  '\t cubic bytes_sent:80 bytes_acked:81 bytes_received:900000 lastsnd:3000 lastrcv:100 lastack:3000',
  // bytes waiting to be read by the balancer
  '12     0      10.213.7.2:40020 10.213.7.11:8000',
  '\t cubic bytes_sent:80 bytes_acked:81 bytes_received:400 lastsnd:9000 lastrcv:8000 lastack:9000',
].join('\n');

describe('which connections carry a request (ss -ti timers)', () => {
  const conns = parseSs(BALANCER_SIDE);

  it('reads each connection with its detail line', () => {
    expect(conns).toHaveLength(6);
    expect(conns[0]).toEqual({
      local: { address: '10.213.7.2', port: 40010 },
      peer: { address: '10.213.7.11', port: 8000 },
      processes: [],
      tcp: { recvQ: 0, sendQ: 0, bytesSent: 4210, bytesReceived: 9120, lastSendMs: 40120, lastRecvMs: 40116 },
    });
    expect(conns[5]!.tcp!.recvQ).toBe(12);
  });

  it('counts requests in flight, not idle pooled connections, on the balancer side', () => {
    expect(conns.map((c) => carriesRequest(c, 'balancer'))).toEqual([false, true, true, false, true, true]);
  });

  it('reads the same exchange the other way round on the member side', () => {
    const flip = (c: (typeof conns)[number]) => ({
      ...c,
      tcp: {
        ...c.tcp!,
        bytesSent: c.tcp!.bytesReceived,
        bytesReceived: c.tcp!.bytesSent,
        lastSendMs: c.tcp!.lastRecvMs!,
        lastRecvMs: c.tcp!.lastSendMs!,
      },
    });
    expect(conns.map((c) => carriesRequest(flip(c), 'member'))).toEqual([false, true, true, false, true, true]);
  });

  it('counts a connection it cannot judge (no -i, no timers) as busy: never ends a drain early', () => {
    const [plain] = parseSs('0 0 10.213.7.2:40010 10.213.7.11:8000 users:(("apache2",pid=7,fd=3))\n');
    expect(plain!.processes).toEqual(['apache2']);
    expect(carriesRequest(plain!, 'balancer')).toBe(true);
    const [noTimers] = parseSs('0 0 10.213.7.2:40010 10.213.7.11:8000\n\t cubic bytes_sent:10\n');
    expect(carriesRequest(noTimers!, 'balancer')).toBe(true);
  });

  it('an answer within the last 250 ms still counts (it may be streaming)', () => {
    const [c] = parseSs(
      '0 0 10.213.7.2:1 10.213.7.11:8000\n\t bytes_sent:80 bytes_received:400 lastsnd:600 lastrcv:200\n',
    );
    expect(carriesRequest(c!, 'balancer')).toBe(true);
    expect(carriesRequest(c!, 'balancer', 100)).toBe(false);
  });
});
