// The two files of ssh2 baton needs, imported without its index (which also loads its server, key
// generator and HTTP agents, with node:http, node:https and node:tls: ~16 ms of every run that dials).
declare module 'ssh2/lib/client.js' {
  import { Client } from 'ssh2';
  export default Client;
}
declare module 'ssh2/lib/protocol/keyParser.js' {
  import { utils } from 'ssh2';
  const keyParser: { parseKey: typeof utils.parseKey };
  export default keyParser;
}
