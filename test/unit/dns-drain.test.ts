// Reading what the server on a port still owes its clients from `ss -Htni` (drain.ts): the
// cut-over stops the old web server only once nothing is owed.
import { describe, expect, it } from 'vitest';
import { maxRttMs, owed, owedBy, parsePortSockets, portSocketsArgv } from '../../src/dns/drain.js';

// Taken from a lab host under the drill's load (ss 6.1), one socket of each kind.
const INFO = 'ts sack bbr wscale:10,10 rto:200 rtt:0.013/0.006 mss:1448 pmtu:1500 rcvmss:536 advmss:1448 cwnd:10';
const SS = [
  'LISTEN 2      1024   0.0.0.0:80 0.0.0.0:*',
  '\t bbr cwnd:10',
  'LISTEN 0      1024      [::]:80    [::]:*',
  '\t bbr cwnd:10',
  // accepted, the request not arrived: only the handshake's segments
  'ESTAB 0      0      10.213.7.4:80 10.213.7.1:49988 ',
  `\t ${INFO} segs_in:2 bbr:(bw:0bps,mrtt:0.013) send 8910769231bps delivered:1 app_limited`,
  // the request arrived and is not answered (lastsnd is the socket's age)
  'ESTAB 0      0      10.213.7.4:80 10.213.7.1:50068 ',
  `\t ${INFO} bytes_received:71 segs_out:1 segs_in:3 data_segs_in:1 send 8910769231bps lastsnd:4 pacing_rate ` +
    '25465654248bps',
  // the request arrived and was not read yet
  'ESTAB 90     0      10.213.7.4:80 10.213.7.1:50070 ',
  `\t ${INFO} bytes_received:90 segs_in:3 data_segs_in:1 lastsnd:2`,
  // answered, idle keep-alive since
  'ESTAB 0      0      10.213.7.4:80 10.213.7.1:50092 ',
  `\t ts sack bbr rtt:35.5/2.1 bytes_received:90 segs_out:3 segs_in:3 data_segs_out:1 data_segs_in:1 ` +
    'lastsnd:1200 lastrcv:1201 lastack:1200',
  // answered, the answer still in the send queue
  'ESTAB 0      5120   10.213.7.4:80 10.213.7.1:50110 ',
  `\t ${INFO} bytes_received:90 segs_out:3 segs_in:3 data_segs_out:2 data_segs_in:1 lastrcv:3 lastack:3`,
].join('\n');

describe('what the server on a port owes', () => {
  it('asks ss for the listeners and established connections with tcp_info', () => {
    expect(portSocketsArgv(80)).toEqual([
      'ss',
      '-Htni',
      'state',
      'listening',
      'state',
      'established',
      'state',
      'close-wait',
      'sport',
      '=',
      ':80',
    ]);
  });

  it('reads each socket with its info line', () => {
    const s = parsePortSockets(SS);
    expect(s.map((x) => [x.state, x.recvQ, x.sendQ])).toEqual([
      ['LISTEN', 2, 1024],
      ['LISTEN', 0, 1024],
      ['ESTAB', 0, 0],
      ['ESTAB', 0, 0],
      ['ESTAB', 90, 0],
      ['ESTAB', 0, 0],
      ['ESTAB', 0, 5120],
    ]);
    expect(s[3]).toMatchObject({
      peer: '10.213.7.1:50068',
      dataSegsIn: 1,
      dataSegsOut: 0,
      lastSnd: 4,
      lastRcv: 0,
      rttMs: 0.013,
    });
    expect(s[5]).toMatchObject({ dataSegsIn: 1, dataSegsOut: 1, lastSnd: 1200, lastRcv: 1201, rttMs: 35.5 });
    expect(maxRttMs(s)).toBe(35.5);
  });

  it('counts the accept queue and every connection still owed an answer, not idle keep-alive ones', () => {
    const s = parsePortSockets(SS);
    expect(s.map(owedBy)).toEqual([undefined, undefined, 'waiting', 'answering', 'unread', undefined, 'sending']);
    expect(owed(s)).toEqual([
      '2 connections in the accept queue',
      '1 connection accepted, its request not arrived',
      '1 request not read yet',
      '1 request being answered',
      '1 answer not delivered yet',
    ]);
  });

  it('owes nothing with idle connections or none at all', () => {
    expect(owed(parsePortSockets(''))).toEqual([]);
    const idle = parsePortSockets(
      SS.split('\n')
        .filter((_, i) => i < 4 || (i >= 10 && i < 12))
        .join('\n')
        .replace('LISTEN 2 ', 'LISTEN 0 '),
    );
    expect(idle.map((x) => x.state)).toEqual(['LISTEN', 'LISTEN', 'ESTAB']);
    expect(owed(idle)).toEqual([]);
  });

  it('a client that sent its request and closed its half (close-wait) is still owed the answer', () => {
    const s = parsePortSockets(
      ['CLOSE-WAIT 1 0 10.0.0.4:80 10.0.0.9:41002', '\t rtt:1/0.5 data_segs_in:1 lastsnd:5 lastrcv:3'].join('\n'),
    );
    expect(owed(s)).toEqual(['1 request not read yet']);
  });

  it('a request received after the last answer on a kept-alive connection is being answered', () => {
    const s = parsePortSockets(
      [
        'ESTAB 0 0 10.0.0.4:80 10.0.0.9:41000',
        '\t rtt:1/0.5 data_segs_out:4 data_segs_in:4 lastsnd:900 lastrcv:2',
      ].join('\n'),
    );
    expect(owed(s)).toEqual(['1 request being answered']);
  });
});
