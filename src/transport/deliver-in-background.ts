// The process an ending baton hands the notifications still on their way to (background-post.ts starts it): it reads
// them on stdin, makes what is left of each one's attempts until its deadline, and exits by itself by the latest
// deadline, delivered or not. Nobody reads its output; it has nothing to say.
import { postJson } from './http-post.js';
import { readHandOver } from './background-post.js';

/** A hand-over is a few KiB; stdin that does not end within this long is no hand-over. */
const READ_LIMIT = { bytes: 1024 * 1024, ms: 10_000 };

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const reading = setTimeout(() => process.exit(0), READ_LIMIT.ms);
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > READ_LIMIT.bytes) process.exit(0);
    chunks.push(chunk);
  }
  clearTimeout(reading);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const posts = readHandOver(await readStdin());
  const latest = Math.max(Date.now(), ...posts.map((p) => p.deadline));
  // Whatever is still under way at the last deadline is given up with the process.
  setTimeout(() => process.exit(0), latest - Date.now()).unref();
  await Promise.all(
    posts.map((p) =>
      postJson(p.url, p.body, {
        attempts: p.attempts,
        attemptMs: p.attemptMs,
        pauseMs: p.pauseMs,
        failedBefore: p.failedBefore,
        signal: AbortSignal.timeout(Math.max(0, p.deadline - Date.now())),
      }),
    ),
  );
}

main().then(
  () => process.exit(0),
  () => process.exit(0),
);
