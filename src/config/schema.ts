// The one schema of baton.yml: runtime validation, the TypeScript types, and (through
// z.toJSONSchema) the JSON Schema an editor uses all come from here.
import { z } from 'zod';
import {
  APACHE_BALANCER_NAME as APACHE_NAME,
  DEFAULT_LUA_CONTROL_URL,
  DEFAULT_LUA_STATE_FILE,
  HAPROXY_NAME,
  NGINX_UPSTREAM_NAME as NGINX_NAME,
} from './balancer-names.js';
import {
  DEFAULT_DURATION_BOUNDS,
  DURATION_PATTERN,
  durationProblem,
  LEASE_BOUNDS,
  parseDuration,
  type DurationBounds,
} from './duration.js';
import { placeholderProblem, prometheusUrlProblem } from './canary-query.js';

const DURATION_EXPECTED = 'expected a duration such as 500ms, 60s or 2m';
/** `60s`, `500ms`, `2m`, `1h` → milliseconds, within bounds (at most a day unless a key needs more). */
export function duration(bounds: DurationBounds = DEFAULT_DURATION_BOUNDS) {
  return z
    .string({ message: DURATION_EXPECTED })
    .regex(DURATION_PATTERN, { message: DURATION_EXPECTED })
    .superRefine((s, ctx) => {
      const problem = DURATION_PATTERN.test(s) ? durationProblem(s, bounds) : undefined;
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform((s) => parseDuration(s) as number)
    .describe('a duration: 500ms, 60s, 2m, 1h');
}
const Duration = duration();

const SYSTEM_FOLDERS = new Set([
  'etc',
  'usr',
  'bin',
  'sbin',
  'lib',
  'lib64',
  'boot',
  'dev',
  'proc',
  'sys',
  'var',
  'root',
  'home',
  'run',
  'tmp',
]);

/** What is wrong with `path` as a deploy root, whose releases baton creates and deletes: undefined when nothing is. */
function deployRootProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'expected an absolute path on the hosts';
  if (/[\t\n\r]/.test(path)) return 'expected a path on one line, without tabs';
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.length === 0) return "expected a folder of the application's own, not /";
  if (segments.some((s) => s === '.' || s === '..'))
    return 'expected a path without . or .. in it: write the folder it stands for';
  if (segments.length === 1 && SYSTEM_FOLDERS.has(segments[0]!))
    return `expected a folder of the application's own, not the system folder /${segments[0]}`;
  return undefined;
}

// The same pattern the smoke check compiles; V8's message quotes the pattern, so only its reason is kept.
function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
    return `expected a regular expression: ${reason.toLowerCase()}`;
  }
}

/** A backend or member name as the driver will put it on a command line or in a file. */
function balancerName(pattern: RegExp, what: string) {
  return z.string().regex(pattern, {
    message: `expected ${what}: letters, digits and ${pattern.source.includes(':') ? '_ . : -' : '_ . -'}`,
  });
}

const HostName = z
  .string({ message: 'expected a host name or IPv4 address' })
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, { message: 'expected a host name or IPv4 address' })
  .describe('host name or address, as ssh would be given it');

/** A secret is never a value in baton.yml, only where to find it at run time. */
export const SecretRef = z
  .strictObject({
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name such as DB_PASSWORD' })
      .optional()
      .describe('name of an environment variable holding the secret'),
    file: z.string().min(1).optional().describe('path of a file holding the secret (relative to baton.yml)'),
  })
  .refine((r) => (r.env === undefined) !== (r.file === undefined), {
    message: 'expected exactly one of env or file: {env: NAME} or {file: PATH}',
  })
  .describe('a reference to a secret: {env: NAME} or {file: PATH}; never the secret itself');

/** Where a key takes a secret: the name of an entry under `secrets:`, resolved before a run starts. */
export const SecretUse = z
  .strictObject({ secret: z.string().min(1).describe('name of an entry under secrets:') })
  .describe('a secret named under secrets: — {secret: NAME}');

export const App = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, { message: 'expected lower-case letters, digits and dashes' })
    .describe('application name: lower-case letters, digits and dashes'),
  repo: z
    .string()
    .min(1)
    .describe('git repository: a local path (relative to baton.yml) or a URL the control side can clone'),
  path: z
    .string()
    .regex(/^\/[^\0]*$/, { message: 'expected an absolute path on the hosts' })
    .superRefine((path, ctx) => {
      const problem = path.startsWith('/') ? deployRootProblem(path) : undefined;
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe('deploy root on each host, an absolute path: releases/<tag>-<sha>, current -> releases/…'),
  build: z
    .string()
    .min(1)
    .optional()
    .describe(
      'command run in the new release directory on each host (after unpacking; with artifact: too, ' +
        'for what must be built on the host itself)',
    ),
  buildTimeout: Duration.prefault('10m').describe(
    'longest the upload, unpack and build of a release may take on one host; ' +
      'a build that hangs fails the stage step, naming the host',
  ),
  restart: z.string().min(1).describe('command that restarts the application on a host'),
  health: z
    .strictObject({
      url: z
        .url({ message: 'expected a URL such as http://127.0.0.1:8000/healthz' })
        .describe('URL checked on the host itself after a restart, e.g. http://127.0.0.1:8000/healthz'),
      timeout: Duration.prefault('30s').describe('how long to wait for the host to become healthy'),
    })
    .optional()
    .describe('a health check run on each host after a restart'),
  keep: z
    .number()
    .int()
    .min(2, { message: 'expected at least 2 (the running release and the one to roll back to)' })
    .max(100)
    .default(5)
    .describe('releases kept on each host (the running one and the way back included)'),
  signedTags: z.boolean().default(false).describe('refuse tags that are not signed'),
});

export const Ssh = z.strictObject({
  user: z.string().min(1).optional().describe('remote user (default: from ssh_config, else the local user)'),
  port: z.number().int().min(1).max(65535).optional().describe('SSH port (default: from ssh_config, else 22)'),
  identity: z.string().min(1).optional().describe('private key file; the SSH agent is used when absent'),
  knownHosts: z
    .string()
    .min(1)
    .default('~/.ssh/known_hosts')
    .describe('known_hosts file host keys are verified against'),
  sudo: z
    .strictObject({
      balancer: z
        .boolean()
        .default(true)
        .describe(
          "the balancer's configuration test and reload (haproxy -c, apache2ctl configtest, nginx -t, " +
            'nginx -s reload) run through `sudo -n`; false: the SSH user may run them itself',
        ),
      packages: z
        .boolean()
        .default(true)
        .describe(
          'restore --run installs missing packages through `sudo -n apt-get install`; false: ' +
            'the SSH user may install them itself',
        ),
      gate: z
        .boolean()
        .default(true)
        .describe(
          "dns cutover's connection gate (dns.migrate.proxy.gate: tc) " +
            'runs `tc -batch -` and `tc qdisc del dev DEV root` through `sudo -n` on the old host; false: ' +
            'the SSH user may change its queueing itself',
        ),
    })
    .prefault({})
    .describe(
      "which of baton's own commands that need root run through `sudo -n` when the SSH user is not root (as " +
        'root they run directly); preflight checks each against `sudo -n -l` and names the sudoers line that ' +
        'is missing',
    ),
  config: z.string().min(1).optional().describe('an ssh_config file to honour (default: ~/.ssh/config when it exists)'),
  concurrency: z.number().int().min(1).max(256).default(16).describe('hosts worked on at once'),
  keepalive: Duration.prefault('15s').describe('SSH keepalive interval'),
  connectTimeout: Duration.prefault('10s').describe('how long to wait for an SSH connection'),
  proxy: z
    .string()
    .regex(/^(none|(ssh:\/\/)?([^@\s,/]+@)?(\[[^\]\s]+\]|[^@\s,:/[\]]+)(:\d{1,5})?)$/, {
      message: 'expected one jump host as [user@]host[:port], or none (baton does not follow a chain of jump hosts)',
    })
    .optional()
    .describe(
      'bastion every host is reached through, [user@]host[:port] (wins over ssh_config ProxyJump, ' +
        'like ssh -J; none dials directly)',
    ),
});

// backend is checked with the rule of the driver that will put it on a command line or in a file.
const balancerCommon = (backendPattern: RegExp, what: string) => ({
  host: HostName.describe('host the balancer runs on (reached over SSH); the release lock lives there'),
  peers: z
    .array(HostName)
    .optional()
    .describe(
      'other balancers running the same driver with the same backend and configuration (a keepalived ' +
        'standby, or balancers behind DNS): every pool change goes to all of them, ' +
        "and a run stops before any change while they disagree on a member's state",
    ),
  backend: balancerName(backendPattern, what).describe(
    'haproxy backend / apache balancer name / nginx upstream holding both clusters',
  ),
  drainTimeout: Duration.prefault('60s').describe('how long to wait for in-flight sessions to end'),
  cutOffAfterDrainTimeout: z
    .boolean()
    .default(false)
    .describe('cut remaining sessions when the drain timeout passes (default: stop and report)'),
});

export const Sessions = z
  .strictObject({
    track: z
      .enum(['table', 'idle'])
      .describe(
        'how the balancer binds users to members: table (a stick table: ' +
          'baton counts the sessions bound to each drained member and drops them once over) ' +
          'or idle (cookie persistence: only the time since each member last took a request is known)',
      ),
    table: balancerName(HAPROXY_NAME, 'a haproxy stick table name')
      .optional()
      .describe(
        "stick table the backend sticks on (default: the backend's own table, named after it); track: table only",
      ),
    idleAfter: Duration.prefault('2m').describe(
      'a session with no request for this long is over: the same as, or shorter than, ' +
        "the application's own session timeout",
    ),
    timeout: Duration.prefault('15m').describe(
      'longest a drain waits for sessions to end; then the push stops and reverses (or, ' +
        'with cutOffAfterDrainTimeout, goes on)',
    ),
  })
  .refine((s) => s.track === 'table' || s.table === undefined, {
    message: 'table is only read with track: table',
    path: ['table'],
  })
  .refine((s) => s.timeout > s.idleAfter, {
    message:
      'expected longer than idleAfter: a session counts as over only after idleAfter without a request, ' +
      'so a shorter wait could never see one end',
    path: ['timeout'],
  })
  .describe('drain users, not just requests: wait until no sticky session is left on the drained members');

const DRIVER =
  'the balancer software: haproxy (runtime API), apache (mod_proxy_balancer) ' +
  'or nginx (upstream file and reload, or a Lua balancer without reloads: mode)';

export const Balancer = z.discriminatedUnion('driver', [
  z.strictObject({
    driver: z.literal('haproxy').describe(DRIVER),
    ...balancerCommon(HAPROXY_NAME, 'a haproxy backend name'),
    socket: z.string().default('/run/haproxy/admin.sock').describe('HAProxy runtime API socket on the balancer host'),
    serverStateFile: z
      .string()
      .regex(/^\/[^\0\n]*$/, { message: 'expected an absolute path' })
      .optional()
      .describe(
        'file on each balancer host where baton saves `show servers state` after every pool change, ' +
          'so a reload with `load-server-state-from-file` keeps the drain (haproxy.cfg: ' +
          'server-state-file and load-server-state-from-file global)',
      ),
    sessions: Sessions.optional(),
  }),
  z.strictObject({
    driver: z.literal('apache').describe(DRIVER),
    ...balancerCommon(APACHE_NAME, 'an apache balancer name'),
    managerUrl: z
      .url({ message: 'expected a URL such as http://127.0.0.1/balancer-manager' })
      .describe('balancer-manager URL as reached from the balancer host'),
    managerAuth: z
      .strictObject({
        user: z
          .string()
          .min(1)
          .regex(/^[^:\s]+$/, { message: 'expected a user name without spaces or colons' })
          .describe('user name for balancer-manager'),
        password: SecretUse.describe('the password: {secret: NAME}, never the password itself'),
      })
      .optional()
      .describe('HTTP Basic credentials for balancer-manager (given to curl on its stdin, never on a command line)'),
    configFile: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .default('/etc/apache2/sites-enabled/000-default.conf')
      .describe(
        'file on the balancer host with the <Proxy balancer://NAME> block; ' +
          'member states are kept in its BalancerMember lines so a graceful restart keeps them ' +
          '(BalancerPersist Off)',
      ),
    ctl: z
      .string()
      .min(1)
      .default('apache2ctl')
      .describe(
        'apache control command on the balancer host (apache2ctl on Debian, apachectl elsewhere), for configtest',
      ),
    errorLog: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .default('/var/log/apache2/error.log')
      .describe('Apache error log on the balancer host: failed attempts at members are counted from it'),
    accessLog: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .optional()
      .describe(
        'access log of the public frontend on the balancer host, in the common or combined format: ' +
          "its requests and 5xx answers, which the watch needs (Apache keeps no other count of its members' " +
          '5xx answers); lines ending with upstream="%{BALANCER_WORKER_NAME}e" give the canary its counts ' +
          'per member, and time_us="%D" just before it their response times (see canary)',
      ),
  }),
  z.strictObject({
    driver: z.literal('nginx').describe(DRIVER),
    ...balancerCommon(NGINX_NAME, 'an nginx upstream name'),
    mode: z
      .enum(['file', 'lua'])
      .default('file')
      .describe(
        'how baton changes the pool: file (`down` in upstreamFile, nginx -t, nginx -s reload: plain nginx, ' +
          'but each change resets a few keep-alive requests) or lua (templates/nginx/baton_balancer.lua keeps ' +
          'the members in a shared dict loaded from stateFile: no reload; ' +
          'needs libnginx-mod-http-lua and lua-resty-core)',
      ),
    upstreamFile: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .optional()
      .describe(
        'absolute path of the file on the balancer host holding the upstream block; mode: file only, and needed there',
      ),
    controlUrl: z
      .url({ message: 'expected a URL such as http://127.0.0.1:8089/baton' })
      .optional()
      .describe(
        'mode: lua only: the Lua control endpoint as reached from the balancer host ' +
          `(default ${DEFAULT_LUA_CONTROL_URL})`,
      ),
    stateFile: z
      .string()
      .regex(/^\/[^\0\n]*$/, { message: 'expected an absolute path' })
      .optional()
      .describe(
        'mode: lua only: the JSON file on the balancer host the Lua side loads its members from, ' +
          `which baton rewrites at each change (default ${DEFAULT_LUA_STATE_FILE}); ` +
          'written once by hand with every member',
      ),
    nginx: z
      .string()
      .min(1)
      .default('nginx')
      .describe('nginx binary on the balancer host (nginx -t, and nginx -s reload in mode: file)'),
    pidFile: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .default('/run/nginx.pid')
      .describe('nginx master pid file: its workers show when a reload has taken (mode: file)'),
    errorLog: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .default('/var/log/nginx/error.log')
      .describe('nginx error log on the balancer host: failed attempts at upstream servers are counted from it'),
    statusUrl: z
      .url({ message: 'expected a URL such as http://127.0.0.1/nginx_status' })
      .optional()
      .describe('stub_status URL as reached from the balancer host, for a request count (nginx keeps no other)'),
    accessLog: z
      .string()
      .regex(/^\//, { message: 'expected an absolute path' })
      .optional()
      .describe(
        'access log of the public frontend on the balancer host, in the common or combined format: ' +
          "its requests and 5xx answers, which the watch needs (nginx keeps no other count of its members' 5xx " +
          'answers); lines ending with upstream="$upstream_addr" give the canary its counts per member, and ' +
          'upstream_time="$upstream_response_time" just before it their response times (see canary)',
      ),
  }),
]);

// Every driver accepts these (haproxy's server names, apache's and nginx's members).
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

const ClusterHost = z.union([
  HostName,
  z.strictObject({
    host: HostName,
    member: balancerName(MEMBER_NAME, 'a balancer member name')
      .optional()
      .describe('balancer member name (default: matched by address)'),
  }),
]);

export const Cluster = z.strictObject({
  internal: z.string().min(1).describe('internal hostname that reaches only this cluster (used for smoke checks)'),
  hosts: z
    .array(ClusterHost)
    .min(1, { message: 'a cluster needs at least one host' })
    .describe('the hosts of this cluster: a host name, or {host, member} to name its balancer member'),
});

const HTTP_STATUS = 'expected an HTTP status code between 100 and 599';

export const SmokeCheck = z.strictObject({
  path: z
    .string()
    .startsWith('/', { message: 'expected a path starting with /' })
    .describe('request path, e.g. /healthz'),
  method: z.enum(['GET', 'HEAD', 'POST']).default('GET').describe('HTTP method'),
  status: z
    .number()
    .int()
    .min(100, { message: HTTP_STATUS })
    .max(599, { message: HTTP_STATUS })
    .default(200)
    .describe('expected HTTP status code'),
  contains: z.string().optional().describe('the body must contain this text'),
  matches: z
    .string()
    .superRefine((pattern, ctx) => {
      const problem = regexProblem(pattern);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .describe('the body must match this regular expression'),
  header: z
    .record(z.string(), z.string())
    .optional()
    .describe('response headers that must have these values (names case-insensitive)'),
  requestHeaders: z
    .record(
      z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: 'expected an HTTP header name' }),
      z.union([z.string(), SecretUse]),
    )
    .optional()
    .describe('headers sent with the request: a value, or {secret: NAME} for a credential (e.g. Authorization)'),
  maxMs: z
    .number()
    .int()
    .positive()
    .max(DEFAULT_DURATION_BOUNDS.maxMs)
    .optional()
    .describe('slowest acceptable answer'),
});

export const Smoke = z.union([
  z.array(SmokeCheck),
  z.strictObject({
    checks: z
      .array(SmokeCheck)
      .min(1, { message: 'expected at least one check' })
      .describe('the checks, as in the list form'),
    deadline: Duration.prefault('30s').describe('how long to keep retrying before the check fails'),
  }),
]);

export const Watch = z.strictObject({
  duration: Duration.prefault('60s').describe('how long to watch the public frontend after a flip'),
  max5xxRatio: z
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe('share of 5xx answers that triggers an automatic rollback'),
});

/** A Prometheus query a canary step is also judged by (canary.analysis.query). */
export const CanaryQuery = z
  .strictObject({
    prometheus: z
      .union([
        z.string().superRefine((url, ctx) => {
          const problem = prometheusUrlProblem(url);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        SecretUse,
      ])
      .describe(
        'the Prometheus base URL (http://prometheus:9090), or {secret: NAME} for one that carries credentials ' +
          '(user:password@ is sent as basic authentication); plans and logs name the secret, never the URL',
      ),
    query: z
      .string()
      .min(1, { message: 'expected a PromQL expression' })
      .superRefine((q, ctx) => {
        const problem = placeholderProblem(q);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe(
        'PromQL asked as a range query over the step so far; $canary, $stable, $canaryHosts, $stableHosts, ' +
          '$canaryMembers and $stableMembers are substituted (inside "double quotes"); ' +
          'the worst of the last value of each series is compared',
      ),
    max: z.number().optional().describe('the value above which the push is reversed'),
    min: z.number().optional().describe('the value below which the push is reversed'),
    every: duration({ minMs: 1000, maxMs: DEFAULT_DURATION_BOUNDS.maxMs })
      .prefault('10s')
      .describe("how often it is asked while a step holds its share (and once at the step's end)"),
    timeout: duration({ minMs: 100, maxMs: 60_000 })
      .prefault('5s')
      .describe('longest one answer may take (also sent to Prometheus as its timeout)'),
    noData: z
      .enum(['fail', 'not-judged'])
      .default('fail')
      .describe(
        "no series (or only NaN) at the step's end, or no answer: fail reverses the push, not-judged lets " +
          'it go on and says so; write `or vector(0)` where no series means zero',
      ),
  })
  .refine((q) => q.max !== undefined || q.min !== undefined, {
    message: 'expected max, min or both: the value the query is compared with',
  });

export const Canary = z.strictObject({
  steps: z
    .array(
      z.strictObject({
        weight: z.number().min(1).max(99).describe('percentage of public traffic the first cluster gets in this step'),
        for: duration({ minMs: 1000, maxMs: DEFAULT_DURATION_BOUNDS.maxMs }).describe(
          'how long the step holds that share, judging the canary as it goes',
        ),
      }),
    )
    .min(1)
    .describe('the shares in order, each held for its time, before the full flip'),
  analysis: z
    .strictObject({
      max5xxRatio: z
        .number()
        .min(0)
        .max(1)
        .default(0.05)
        .describe("the canary's share of 5xx answers above which the push is reversed"),
      maxRelative5xx: z
        .number()
        .min(1)
        .default(2)
        .describe(
          "the canary's 5xx share above this many times the stable cluster's (taken as at least 1 %) reverses the push",
        ),
      minRequests: z
        .number()
        .int()
        .min(1)
        .default(50)
        .describe(
          'requests the canary must have answered in a step before any rule judges it (for the connection-error ' +
            'rules, attempts: answered or failed)',
        ),
      maxLatencyMs: z
        .number()
        .positive()
        .optional()
        .describe("the canary's mean response time in ms above which the push is reversed (unset: not judged)"),
      maxRelativeLatency: z
        .number()
        .min(1)
        .default(2)
        .describe(
          "the canary's mean response time above this many times the stable cluster's (taken as at least 10 ms) " +
            'reverses the push',
        ),
      maxConnectionErrorRatio: z
        .number()
        .min(0)
        .max(1)
        .default(0.02)
        .describe(
          "the canary's share of failed attempts (connections refused or reset, whether the balancer retried them " +
            'elsewhere or not) above which the push is reversed; not judged on Apache, whose log names only the ' +
            'member that answered',
        ),
      maxRelativeConnectionErrors: z
        .number()
        .min(1)
        .default(2)
        .describe(
          "the canary's share of failed attempts above this many times the stable cluster's (taken as at least " +
            '1 %) reverses the push',
        ),
      query: z
        .union([CanaryQuery, z.array(CanaryQuery).min(1)])
        .optional()
        .describe('a Prometheus query (or a list) each step is also judged by, compared with max and/or min'),
    })
    .prefault({})
    .describe("how each canary step is judged, from the balancer's own counters"),
});

export const Require = z.strictObject({
  rehearsal: z
    .boolean()
    .default(false)
    .describe(
      'apply refuses a plan without a passed rehearsal of it, signed by whoever ran it (`baton rehearse --key`)',
    ),
  approvals: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      'approvals a plan needs before apply runs it: distinct people, ' +
        'each one an allowedSigners principal whose signature verifies',
    ),
  allowedSigners: z
    .string()
    .min(1)
    .optional()
    .describe(
      'OpenSSH allowed_signers file (relative to baton.yml) of who may sign approvals and rehearsals, ' +
        'one key a line: `principal[,principal] [namespaces="baton-plan,baton-rehearsal"] keytype base64key`; ' +
        'needed when approvals or a rehearsal are required',
    ),
  authorApprovalCounts: z
    .boolean()
    .default(false)
    .describe(
      'whether the approval of whoever made the plan counts; when false, ' +
        'apply needs the plan signed by its maker (`baton plan -o FILE --key KEY`) ' +
        'to know whose approval not to count',
    ),
});

const Argv = z
  .array(z.string().min(1), { message: 'expected a command as a list of words, e.g. [/srv/shop/bin/shopctl, stop]' })
  .min(1, { message: 'expected a command as a list of words, e.g. [/srv/shop/bin/shopctl, stop]' })
  .describe('a command as a list of words (argv; no shell)');
const Port = z.number().int().min(1).max(65535);
const AbsolutePath = z.string().regex(/^\/[^\0]*$/, { message: 'expected an absolute path' });

const DnsHost = {
  host: HostName.describe('the host, as ssh reaches it'),
  address: z
    .ipv4({ message: 'expected an IPv4 address such as 10.0.0.5' })
    .describe("the address the site's A record points at when it is served from this host"),
  address6: z
    .ipv6({ message: 'expected an IPv6 address such as 2001:db8::5' })
    .optional()
    .describe(
      "the address the site's AAAA record points at when it is served from this host; needed on the new " +
        'host when the site has an AAAA record (on the old host, the AAAA record found is taken when unset)',
    ),
  port: Port.default(80).describe('port the site is served on'),
};

export const DnsMigration = z.strictObject({
  site: HostName.describe(
    'the name whose A (and AAAA) records move from the old host to the new one, e.g. www.example.com; ' +
      'a CNAME inside dns.zone moves the record of the name it points at',
  ),
  old: z
    .strictObject({
      ...DnsHost,
      stop: Argv.describe('stops the old web server (run on the old host; must wait until it has stopped)'),
      start: Argv.describe('starts the old web server again (the way back)'),
    })
    .describe('the host the site is served from now'),
  new: z.strictObject(DnsHost).describe('the host the site moves to; it must already serve the site'),
  scheme: z.enum(['http', 'https']).default('http').describe('how the site is served; Varnish cannot terminate HTTPS'),
  proxy: z
    .strictObject({
      kind: z
        .enum(['varnish', 'nginx', 'apache'])
        .default('varnish')
        .describe('the transitional proxy on the old host: varnish (HTTP only), nginx or apache'),
      sidePort: Port.default(6081).describe("port the proxy is tried on before it takes the site's port"),
      dir: AbsolutePath.default('/srv/baton-dns').describe(
        "folder on the old host for the proxy's config, pid and log files",
      ),
      gate: z
        .enum(['tc', 'none'])
        .default('tc')
        .describe(
          'hold new connections while the proxy takes the port: tc (SYN-ACKs held with iproute2, ' +
            'clients retry in ~1 s) or none (a few connections may be refused)',
        ),
      drain: Duration.prefault('10s').describe(
        'with the tc gate, how long the hand-over waits, new connections held, ' +
          'for the server on the port to answer every request it took (accept queue empty, ' +
          'no request still to arrive or be answered) before stopping it; then it stops it anyway',
      ),
      verifyPath: z
        .string()
        .startsWith('/', { message: 'expected a path starting with /' })
        .default('/')
        .describe('path fetched through the proxy and from the new host directly; the answers must match'),
      tls: z
        .strictObject({
          certificate: AbsolutePath.describe('certificate file on the old host'),
          key: AbsolutePath.describe('private key file on the old host (a path, never the key)'),
        })
        .optional()
        .describe('for https sites (nginx or apache): the certificate the proxy presents'),
    })
    .prefault({})
    .describe('the transitional proxy that forwards what still reaches the old host'),
  sync: z
    .strictObject({
      command: Argv.describe(
        "copies the site's data from old to new while the old site takes no writes (rsync, dump and load)",
      ),
      reverse: Argv.optional().describe('copies the data back from new to old, for the way back'),
      on: z.enum(['old', 'new', 'control']).default('old').describe('where the command runs'),
      timeout: Duration.prefault('10m').describe('longest the copy may take (new connections wait meanwhile)'),
    })
    .optional()
    .describe('a hook run during cut-over, between stopping the old web server and starting the proxy on its port'),
  quiet: Duration.prefault('10m').describe('the proxy is removed only after no request reached it for this long'),
  lock: AbsolutePath.default('/var/lib/baton/dns-lock').describe('lock directory on the old host'),
});

/** How nsupdate is given the TSIG key: a key file, or the key as a named secret. */
export const DnsUpdate = z
  .strictObject({
    tsigKeyFile: z.string().min(1).optional().describe('nsupdate key file on the control machine (nsupdate -k)'),
    tsigKey: SecretUse.optional().describe(
      'the TSIG key as a secret holding `[algorithm:]name:base64` (as nsupdate -y takes it); ' +
        'given to nsupdate on its stdin',
    ),
  })
  .refine((u) => (u.tsigKeyFile === undefined) !== (u.tsigKey === undefined), {
    message: 'expected exactly one of tsigKeyFile or tsigKey',
  })
  .describe('the TSIG key: tsigKeyFile or tsigKey');

export const Dns = z.strictObject({
  zone: z.string().min(1).describe('DNS zone the migrated records live in'),
  nameserver: HostName.describe(
    'authoritative server the records are read from and updated on; every NS of the zone is checked',
  ),
  transitional: z.string().min(1).describe('transitional hostname pointing at the new host'),
  update: DnsUpdate.optional().describe(
    'dynamic updates (nsupdate with TSIG); without it records are changed by hand and baton waits for them',
  ),
  ttl: duration({ minMs: 1000, maxMs: 7 * 24 * 3_600_000 })
    .optional()
    .describe("TTL of the records baton writes (default: the TTL the site's record has now)"),
  manualWait: Duration.prefault('1h').describe(
    'how long to wait for a record changed by hand to appear on every authoritative server',
  ),
  migrate: DnsMigration.optional().describe('the site to move and how (baton dns plan|proxy|cutover|watch|finish)'),
});

/** Schema changes both releases survive: expand before anything drains, contract only in its own plan. */
export const Migrate = z.strictObject({
  host: HostName.optional().describe(
    "app host the migration commands run on; one of the clusters' hosts (default: the first host of cluster a)",
  ),
  expand: z
    .string()
    .min(1)
    .describe(
      'command that expands the schema (adds what the new release needs, removes nothing the old one uses), ' +
        "run in the new release's directory after it is staged and before the first drain",
    ),
  reverse: z
    .string()
    .min(1)
    .optional()
    .describe(
      "command that undoes expand, run in the new release's directory when a push is reversed; " +
        'without it baton cannot undo an expand',
    ),
  contract: z
    .string()
    .min(1)
    .optional()
    .describe(
      'command that removes what only the old release needed, ' +
        "run in the current release's directory by `baton contract` once every host runs the expanded release",
    ),
  timeout: Duration.prefault('5m').describe('longest expand, reverse or contract may take'),
  gate: z
    .union([z.literal('smoke'), z.array(SmokeCheck).min(1, { message: 'expected at least one check, or smoke' })])
    .default('smoke')
    .describe(
      'the checks the release still serving must pass on the expanded schema, ' +
        'through each cluster and against each host, before anything drains: smoke (the smoke checks) ' +
        'or a list of checks as under smoke',
    ),
  gateDeadline: Duration.prefault('2s').describe(
    'how long the gate retries a failing check before the push is reversed: ' +
      'an expand that broke the old release does not heal by waiting, ' +
      'and the public may see it fail until the expand is reversed',
  ),
});

const TrackedPath = z
  .string()
  .superRefine((path, ctx) => {
    if (!path.startsWith('/')) ctx.addIssue({ code: 'custom', message: 'expected an absolute path on the hosts' });
    else if (/[\0\n\r]/.test(path)) ctx.addIssue({ code: 'custom', message: 'expected a path on one line' });
    else if (path.split('/').some((s) => s === '..' || s === '.'))
      ctx.addIssue({ code: 'custom', message: 'expected a path without . or .. in it' });
    else if (path === '/') ctx.addIssue({ code: 'custom', message: 'expected a file or folder of its own, not /' });
  })
  .describe('an absolute path on the hosts: a file, a folder (everything under it) or a symbolic link (its target)');

/** Default patterns of paths a snapshot never reads: keys, certificates' private halves, credential files. */
export const DEFAULT_TRACK_EXCLUDE = [
  '*.key',
  '*.pem',
  '*.p12',
  '*.pfx',
  '*id_rsa*',
  '*id_ed25519*',
  '*secret*',
  '*password*',
  '*.token',
  '*/shadow',
  '*/gshadow',
];

/** Each host's important files, committed to git: what drift is measured against and a restore replays. */
export const Track = z.strictObject({
  repo: z
    .string()
    .min(1)
    .describe(
      'git repository on the control machine the snapshots are committed to (a folder, ' +
        'relative to baton.yml; created by the first `baton snapshot`)',
    ),
  app: z
    .array(TrackedPath)
    .default([])
    .describe(
      'paths tracked on every app host: service configuration, crontabs, env files; ' +
        "the deploy root's `current` link is always tracked",
    ),
  balancer: z
    .array(TrackedPath)
    .default([])
    .describe("paths tracked on the balancer host (and its peers): the balancer's configuration"),
  packages: z
    .boolean()
    .default(true)
    .describe('record the installed package list (dpkg-query, else rpm -qa) of each host'),
  exclude: z
    .array(z.string().min(1))
    .default(DEFAULT_TRACK_EXCLUDE)
    .describe(
      'shell patterns of paths never read (matched against the whole path, * spans /): ' +
        'secrets stay on the hosts; the default excludes keys and credential files',
    ),
  maxFileSize: z
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('largest file a snapshot reads, in bytes; a larger one is listed, not read'),
});

const UTILISATION = 'expected a share above 0 and at most 1, e.g. 0.7 for 70%';

/** What the cluster left serving can carry, and what a host's memory can hold. */
export const Capacity = z.strictObject({
  utilisation: z
    .number({ message: UTILISATION })
    .gt(0, { message: UTILISATION })
    .max(1, { message: UTILISATION })
    .default(0.7)
    .describe('highest share of its capacity a cluster may run at while the other is drained (0.7: 70%)'),
  perHost: z
    .strictObject({
      requestsPerSecond: z.number().positive().optional().describe('requests a second one app host serves at 100%'),
      concurrency: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('requests one app host serves at once at 100% (default: its maxconn in HAProxy, where set)'),
    })
    .prefault({})
    .describe(
      'what one app host carries at 100%; measured by a load test, ' +
        'or read from the balancer where it knows (HAProxy maxconn)',
    ),
  sampleFor: duration({ minMs: 200, maxMs: 60_000 })
    .prefault('1s')
    .describe('how long the request rate is measured at the balancer'),
  memory: z
    .strictObject({
      pidFile: z
        .string()
        .regex(/^\//, { message: 'expected an absolute path' })
        .describe('pid file of the web server or app on each app host: its process and children are measured'),
      processLimit: z
        .number()
        .int()
        .positive()
        .describe(
          'the most processes it may run (Apache MaxRequestWorkers, a worker count): ' +
            "× the resident size of one must fit the host's memory",
        ),
    })
    .optional()
    .describe("check the process limit × resident size per process against each host's memory"),
  diskFactor: z
    .number()
    .min(1)
    .max(100)
    .default(2)
    .describe("free space needed on each host, as a multiple of the new release's unpacked size"),
});

/** A path inside the built tree, relative to its root: what an artifact packs. */
const ArtifactPath = z
  .string()
  .superRefine((path, ctx) => {
    if (path.startsWith('/'))
      ctx.addIssue({
        code: 'custom',
        message: "expected a path relative to the release's root, such as dist or package.json",
      });
    else if (/[\0\n\r]/.test(path)) ctx.addIssue({ code: 'custom', message: 'expected a path on one line' });
    else if (path.split('/').some((s) => s === '..' || s === '.' || s === ''))
      ctx.addIssue({ code: 'custom', message: 'expected a path without ., .. or empty parts in it' });
  })
  .describe('a file or folder of the built tree, relative to its root (a folder packs everything under it)');

/**
 * Build once, deploy the same bytes everywhere (issue 33): the release's artifact, made from the tag on the control
 * machine or on a build host.
 */
export const Artifact = z
  .strictObject({
    build: z
      .string()
      .min(1)
      .optional()
      .describe(
        'command run once per release, with sh, in a clean export of the tag on the machine that runs baton ' +
          '(or on artifact.host; not on the app hosts); what it leaves in that folder is packed. ' +
          "Without it the tag's tree is packed as it is",
      ),
    host: HostName.optional().describe(
      'build host artifact.build runs on, over SSH as ssh.user with its key checked like every host: the tag is ' +
        'exported here and sent there, and the built tree comes back to be packed here (default: the machine that ' +
        'runs baton)',
    ),
    paths: z
      .array(ArtifactPath)
      .min(1, { message: 'expected at least one path, or leave paths out to pack the whole tree' })
      .optional()
      .describe('what of the built tree is packed (default: all of it), e.g. [dist, node_modules, package.json]'),
    compression: z
      .enum(['gzip', 'zstd'])
      .default('gzip')
      .describe('gzip (everywhere), or zstd (faster to unpack; needs zstd on the control machine and on every host)'),
    timeout: Duration.prefault('30m').describe('longest the build may take'),
    cache: z
      .string()
      .min(1)
      .optional()
      .describe(
        'folder on the control machine where artifacts are kept by commit and build command, so a plan, ' +
          'its apply and a resume use the same bytes (default: $XDG_CACHE_HOME/baton/artifacts, ' +
          'else ~/.cache/baton/artifacts; relative to baton.yml)',
      ),
    keep: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(20)
      .describe('artifacts kept in the cache; the oldest beyond this are removed after a build'),
  })
  .refine((a) => a.host === undefined || a.build !== undefined, {
    message: 'artifact.host names a build host but artifact.build says nothing to run there: add build, or drop host',
    path: ['host'],
  });

export const Lock = z.strictObject({
  path: z
    .string()
    .regex(/^\//, { message: 'expected an absolute path' })
    .default('/var/lib/baton/lock')
    .describe('lock directory on the balancer host (absolute path)'),
  lease: duration(LEASE_BOUNDS).prefault('30m').describe('a lock not renewed within this time expires'),
});

export const RunRecord = z.strictObject({
  path: z
    .string()
    .regex(/^\//, { message: 'expected an absolute path' })
    .optional()
    .describe(
      "folder on the balancer host (and each peer) holding every run's journal and plan (default: " +
        '<app.name>.runs beside lock.path)',
    ),
  keep: z
    .number()
    .int()
    .min(10)
    .max(100_000)
    .default(200)
    .describe('runs kept there; the oldest beyond this are removed when a run ends'),
});

/** The moments a hook runs at, in the order a push meets them (README "Hooks"). */
export const HOOK_NAMES = [
  'before-lock',
  'after-activate',
  'after-flip',
  'after-success',
  'after-reversal',
  'needs-attention',
] as const;

const HOOK_DESCRIPTIONS: Record<(typeof HOOK_NAMES)[number], string> = {
  'before-lock': 'before the run takes the lock: a nonzero exit refuses the run (exit 3), nothing changed',
  'after-activate': "after each cluster's activate and smoke check, before it returns to the pool (BATON_CLUSTER)",
  'after-flip': 'after the first cluster on the new release is back in the public pool',
  'after-success': 'after the run succeeded',
  'after-reversal': 'after a reversal put production back where it started',
  'needs-attention': 'when the run ended with production needing attention (its reversal failed)',
};

const HookCommand = z.union([
  z
    .string()
    .min(1, { message: 'expected a command line' })
    .describe('a command line, run with /bin/sh -c in the folder of baton.yml'),
  z
    .array(z.string().min(1, { message: 'expected a program or an argument, not an empty string' }))
    .min(1, { message: 'expected a program and its arguments' })
    .describe(
      'a program and its arguments, run without a shell (a relative program path is taken from the folder of ' +
        'baton.yml)',
    ),
]);

export const Hook = z.union([
  HookCommand,
  z.strictObject({
    run: HookCommand.describe('the command: a command line (sh -c) or [program, args…] (no shell)'),
    timeout: duration({ minMs: 100, maxMs: DEFAULT_DURATION_BOUNDS.maxMs })
      .optional()
      .describe('longest it may run (default: hooksTimeout); its process group is killed then'),
  }),
]);

export const Hooks = z
  .strictObject({
    'before-lock': Hook.optional().describe(HOOK_DESCRIPTIONS['before-lock']),
    'after-activate': Hook.optional().describe(HOOK_DESCRIPTIONS['after-activate']),
    'after-flip': Hook.optional().describe(HOOK_DESCRIPTIONS['after-flip']),
    'after-success': Hook.optional().describe(HOOK_DESCRIPTIONS['after-success']),
    'after-reversal': Hook.optional().describe(HOOK_DESCRIPTIONS['after-reversal']),
    'needs-attention': Hook.optional().describe(HOOK_DESCRIPTIONS['needs-attention']),
  })
  .describe(
    'commands run on the machine running baton at named moments of a run, ' +
      'with its facts in BATON_* variables and the event as JSON on stdin',
  );

/** The events a notification target may ask for (README "Notifications"). */
export const NOTIFY_EVENTS = ['begin', 'flip', 'succeeded', 'reversed', 'needs-attention', 'drift'] as const;

export const NotifyTarget = z.strictObject({
  url: z
    .union([
      z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' }),
      z
        .strictObject({
          env: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name such as SLACK_URL' })
            .describe('name of an environment variable holding the URL'),
        })
        .describe('{env: NAME}: the URL is a secret, read from the environment when the run starts'),
    ])
    .describe('where to POST: a URL, or {env: NAME} for a URL that is a secret (a Slack or Teams webhook)'),
  format: z
    .enum(['webhook', 'slack', 'teams'])
    .default('webhook')
    .describe('webhook: the event as JSON; slack: {text}; teams: a MessageCard {text}'),
  events: z
    .array(z.enum(NOTIFY_EVENTS))
    .min(1, { message: 'expected at least one event' })
    .default([...NOTIFY_EVENTS])
    .describe('which events to send: begin, flip, succeeded, reversed, needs-attention, drift (default: all)'),
});

export const BatonConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema reference for editors'),
    app: App.describe('the application: where its code comes from and how it runs on each host'),
    ssh: Ssh.prefault({}).describe('how baton reaches hosts over SSH'),
    balancer: Balancer.describe('the load balancer whose pool holds both clusters'),
    clusters: z
      .strictObject({ a: Cluster.describe('cluster a'), b: Cluster.describe('cluster b') })
      .describe('the two identical production clusters; a release drains one while the other serves'),
    resolve: z
      .record(z.string(), z.ipv4({ message: 'expected an IPv4 address such as 10.0.0.5' }))
      .optional()
      .describe(
        'pin host names to addresses for HTTP checks (like curl --resolve), e.g. internal names not in public DNS',
      ),
    smoke: Smoke.default([]).describe(
      "checks run through a cluster's internal hostname before it rejoins the pool: a list, or {checks, deadline}",
    ),
    watch: Watch.optional().describe('after a flip, watch for errors and roll back by itself if they rise'),
    canary: Canary.optional().describe(
      'after the first cluster passes its smoke checks, send it a share of public traffic step by step, ' +
        'judged by its 5xx answers, before the full flip',
    ),
    require: Require.prefault({}).describe('what apply demands of a plan'),
    lock: Lock.prefault({}).describe('the release lock that keeps two releases from running at once'),
    record: RunRecord.prefault({}).describe(
      'the run record kept with production, beside the lock: what `status`, `history`, `report`, ' +
        '`resume` and `rollback` read on any machine',
    ),
    dns: Dns.optional().describe('DNS migration with a transitional proxy (baton dns …)'),
    artifact: Artifact.optional().describe(
      'build each release once, on the machine that runs baton or on a build host, and deploy the same bytes to ' +
        'every host: ' +
        'a tar (sorted, mtimes and owners normalised) hashed with SHA-256 into the plan, ' +
        'uploaded only to hosts that lack it and checked there before it is unpacked. Without it, ' +
        'the tag is uploaded and app.build runs on each host',
    ),
    migrate: Migrate.optional().describe(
      'schema changes both releases survive: expand and gate before the first drain, ' +
        'contract as its own plan (`baton contract`)',
    ),
    track: Track.optional().describe(
      "track each host's configuration in git (`baton snapshot`, `baton drift`, `baton restore`)",
    ),
    capacity: Capacity.prefault({}).describe(
      'what `baton preflight` (run first by plan and push) checks: ' +
        'the cluster left serving can carry the load, process memory fits',
    ),
    secrets: z.record(z.string(), SecretRef).optional().describe('named secrets resolved at run time'),
    hooks: Hooks.optional(),
    hooksTimeout: duration({ minMs: 100, maxMs: DEFAULT_DURATION_BOUNDS.maxMs })
      .prefault('30s')
      .describe(
        "longest a hook may run unless it says (its process group is killed then; a before-lock hook's run is refused)",
      ),
    notify: z
      .array(NotifyTarget)
      .optional()
      .describe(
        'where to tell what a run did (begin, flip, succeeded, reversed, needs-attention, drift), in the background',
      ),
  })
  .describe('baton.yml');

/** baton.yml as written. */
export type BatonConfigInput = z.input<typeof BatonConfigSchema>;
/** baton.yml after validation, defaults applied and durations in milliseconds. */
export type BatonConfigParsed = z.output<typeof BatonConfigSchema>;
