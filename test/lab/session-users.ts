// Users, not requests: each simulated user opens a session (a fresh shop_session cookie, which
// the lab's HAProxy sticks on), makes a few requests with a pause between them, like a checkout,
// and leaves; another user takes its place. A session is broken when its requests did not all
// reach the same member on the same release, or one of them failed — what a user halfway
// through a checkout would notice. Node built-ins only.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { checkTarget } from './load.js';

export interface SessionUsersOptions {
  url: string;
  /** Users at once. */
  users?: number;
  requestsPerSession?: number;
  /** Pause between a user's requests. */
  thinkMs?: number;
  cookie?: string;
  timeoutMs?: number;
}

export interface SessionUsersReport {
  /** Sessions that made all their requests (those still going when the load stopped are not counted). */
  sessions: number;
  broken: number;
  /** Why, per broken session (a session can count under several). */
  brokenBy: { release: number; member: number; failedRequest: number };
  requests: number;
  failedRequests: number;
  /** Sessions per release they ran on (unbroken ones). */
  byRelease: Record<string, number>;
  seconds: number;
  /**
   * The first few session cookies handed out, so a test can check that none of them shows up in baton's output or
   * journal.
   */
  sampleCookies: string[];
}

interface Answer {
  ok: boolean;
  version?: string;
  host?: string;
}

function get(agent: http.Agent, url: URL, cookie: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get(
      { agent, hostname: url.hostname, port: url.port || 80, path: url.pathname, headers: { cookie } },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300,
            version: res.headers['x-version'] as string | undefined,
            host: res.headers['x-host'] as string | undefined,
          }),
        );
        res.on('error', () => resolve({ ok: false }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false }));
  });
}

export function startSessionUsers(opts: SessionUsersOptions): { stop(): Promise<SessionUsersReport> } {
  const url = new URL(opts.url);
  checkTarget(url);
  const perSession = opts.requestsPerSession ?? 5;
  const thinkMs = opts.thinkMs ?? 300;
  const cookieName = opts.cookie ?? 'shop_session';
  const report: SessionUsersReport = {
    sessions: 0,
    broken: 0,
    brokenBy: { release: 0, member: 0, failedRequest: 0 },
    requests: 0,
    failedRequests: 0,
    byRelease: {},
    seconds: 0,
    sampleCookies: [],
  };
  const started = performance.now();
  let stopped = false;

  async function user(): Promise<void> {
    while (!stopped) {
      // Each session is one browser: its own keep-alive connection and its own cookie.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const cookie = `${cookieName}=${randomBytes(12).toString('hex')}`;
      if (report.sampleCookies.length < 20) report.sampleCookies.push(cookie.slice(cookieName.length + 1));
      const answers: Answer[] = [];
      for (let i = 0; i < perSession && !stopped; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, thinkMs));
        answers.push(await get(agent, url, cookie, opts.timeoutMs ?? 10_000));
      }
      agent.destroy();
      report.requests += answers.length;
      report.failedRequests += answers.filter((a) => !a.ok).length;
      if (answers.length < perSession) break;
      report.sessions++;
      const releases = new Set(answers.filter((a) => a.ok).map((a) => a.version));
      const members = new Set(answers.filter((a) => a.ok).map((a) => a.host));
      const failed = answers.some((a) => !a.ok);
      if (releases.size > 1) report.brokenBy.release++;
      if (members.size > 1) report.brokenBy.member++;
      if (failed) report.brokenBy.failedRequest++;
      if (releases.size > 1 || members.size > 1 || failed) report.broken++;
      else {
        const release = answers[0]?.version ?? '?';
        report.byRelease[release] = (report.byRelease[release] ?? 0) + 1;
      }
    }
  }

  const users = Promise.all(Array.from({ length: opts.users ?? 8 }, () => user()));
  return {
    async stop() {
      stopped = true;
      await users;
      report.seconds = Math.round((performance.now() - started) / 100) / 10;
      return report;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      users: { type: 'string', default: '8' },
      requests: { type: 'string', default: '5' },
      think: { type: 'string', default: '300' },
    },
  });
  if (!values.url)
    throw new Error('usage: session-users.js --url URL [--seconds N] [--users N] [--requests N] [--think MS]');
  const run = startSessionUsers({
    url: values.url,
    users: Number(values.users),
    requestsPerSession: Number(values.requests),
    thinkMs: Number(values.think),
  });
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  console.log(JSON.stringify(await run.stop()));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
