// A run record kept in memory, for unit tests whose transports record calls instead of running
// them: appends answer as the real script does (skipping what is there, 4 when it is shorter),
// plans are kept, listing and fetching answer from what is there, the rest answers "done". run-record.test.ts drives
// the real scripts.
import { RECORD_SCRIPTS } from '../../src/engine/run-record.js';
import type { CannedResponse } from '../../src/transport/recording.js';

export function recordHost(): CannedResponse & { files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  const scripts = new Set<string>(Object.values(RECORD_SCRIPTS));
  return {
    files,
    match: (argv) => argv[0] === 'sh' && scripts.has(argv[2] ?? ''),
    answer: (argv, _host, opts) => {
      const [, , script, , dir, run, offset] = argv;
      const stdin = Buffer.from(opts.stdin ?? '');
      if (script === RECORD_SCRIPTS.APPEND) {
        const name = `${dir}/${run}.jsonl`;
        const have = files.get(name) ?? Buffer.alloc(0);
        const off = Number(offset);
        if (have.length < off) return { code: 4, stdout: `${have.length}\n` };
        const next = Buffer.concat([have, stdin.subarray(have.length - off)]);
        files.set(name, next);
        return { stdout: `${next.length}\n` };
      }
      if (script === RECORD_SCRIPTS.PUT_PLAN) files.set(`${dir}/${run}.plan.json`, stdin);
      const inDir = [...files]
        .filter(([name]) => name.startsWith(`${dir}/`))
        .map(([name, bytes]) => [name.slice(dir!.length + 1), bytes] as const);
      if (script === RECORD_SCRIPTS.LIST)
        return { stdout: `\n${inDir.map(([name, bytes]) => `${bytes.length} ${name}\n`).join('')}` };
      if (script === RECORD_SCRIPTS.GET) {
        const wanted = argv.slice(5);
        return {
          stdout: wanted
            .map((name) => {
              const bytes = files.get(`${dir}/${name}`) ?? Buffer.alloc(0);
              return `${bytes.length} ${name}\n${bytes.toString('utf8')}`;
            })
            .join(''),
        };
      }
      return {};
    },
  };
}
