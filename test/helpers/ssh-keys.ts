// An ed25519 key pair for tests' in-process SSH servers and clients. ssh2's own generator makes,
// about twice in a thousand, a private key its parser then calls malformed (measured: 6 of 3,000):
// a test must not fail on that, so a key is only handed out once ssh2 reads it back.
import ssh2 from 'ssh2';

export function ed25519KeyPair(): { private: string; public: string } {
  for (let i = 0; i < 20; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error('ssh2 made no readable ed25519 key in 20 tries');
}
