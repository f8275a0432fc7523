// npm run bench:channel -- [--polls N]
// What one runtime API channel saves per round trip: N `show stat` polls through HaproxyBalancer,
// first with one socat per call (the exec path), then over one channel kept open (prompt mode),
// both through LocalTransport against a throwaway local haproxy. Prints JSON (ms per round trip).
// Over SSH the exec path also pays a channel open per call: the lab's numbers come from bench:push.
import { parseArgs } from 'node:util';
import { HaproxyBalancer } from '../src/balancers/haproxy.js';
import { LocalTransport } from '../src/transport/local.js';
import type { Transport } from '../src/transport/types.js';
import { startLocalHaproxy } from './local-haproxy.js';

const { values } = parseArgs({ options: { polls: { type: 'string', default: '200' } } });
const polls = Number(values.polls);
if (!Number.isInteger(polls) || polls < 1)
  throw new Error(`--polls must be a whole number above 0, got ${values.polls}`);

const haproxy = await startLocalHaproxy(['a', 'b']);
const local = new LocalTransport();
// The same transport without openStream, so the driver falls back to one socat per call.
const execOnly: Transport = {
  host: local.host,
  run: (a, o) => local.run(a, o),
  upload: (f, t) => local.upload(f, t),
  download: (f, t) => local.download(f, t),
};

async function msPerPoll(transport: Transport): Promise<number> {
  const balancer = new HaproxyBalancer(transport, { backend: haproxy.backend, socket: haproxy.socket });
  try {
    await balancer.sessions(['a', 'b']); // warm-up (and the channel's opening)
    const start = performance.now();
    for (let i = 0; i < polls; i++) await balancer.sessions(['a', 'b']);
    return (performance.now() - start) / polls;
  } finally {
    await balancer.close();
  }
}

try {
  const execPerCall = await msPerPoll(execOnly);
  const oneChannel = await msPerPoll(local);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  console.log(
    JSON.stringify(
      {
        polls,
        msPerRoundTrip: { execPerCall: round(execPerCall), oneChannel: round(oneChannel) },
        speedup: round(execPerCall / oneChannel),
      },
      null,
      2,
    ),
  );
} finally {
  await haproxy.stop();
}
