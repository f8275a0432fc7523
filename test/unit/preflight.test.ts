import { describe, expect, it } from 'vitest';
import { capacityFindings, diskFindings, formatMiB, memoryFindings, refusals } from '../../src/checks/preflight.js';
import { type Finding } from '../../src/checks/preflight.js';
import { ExitCode } from '../../src/errors.js';
import { preflightRefusal } from '../../src/release/preflight.js';
import { renderFindings, renderPreflight } from '../../src/render/preflight.js';

const MiB = 2 ** 20;
const twoAndTwo = { a: 2, b: 2 };

describe('capacityFindings', () => {
  it(
    'refuses a drain that would leave the other cluster above the utilisation, ' + 'naming every number and its source',
    () => {
      const findings = capacityFindings({ requestsPerSecond: 412, sampledMs: 1000, concurrency: 10 }, twoAndTwo, {
        utilisation: 0.7,
        perHost: { requestsPerSecond: 200, concurrency: 100 },
      });
      const rate = findings.filter((f) => f.message.includes('req/s'));
      expect(rate.map((f) => f.outcome)).toEqual(['refused', 'refused']);
      expect(rate[0]!.message).toBe(
        'while cluster a is drained, cluster b (2 hosts) would carry 412 req/s (measured at the balancer over ' +
          '1 s): 206 a host, 103% of the 200 req/s one host carries (capacity.perHost.requestsPerSecond, ' +
          'baton.yml); the limit is 70% (capacity.utilisation)',
      );
      expect(findings.filter((f) => f.message.includes('requests at once')).map((f) => f.outcome)).toEqual([
        'ok',
        'ok',
      ]);
    },
  );

  it('checks each cluster against its own host count: the smaller one is the one refused', () => {
    const findings = capacityFindings(
      { requestsPerSecond: 300, sampledMs: 1000, concurrency: 0 },
      { a: 3, b: 2 },
      { utilisation: 0.7, perHost: { requestsPerSecond: 200 } },
    );
    const rate = findings.filter((f) => f.message.includes('req/s'));
    // b drained: a carries 100 a host (50%); a drained: b carries 150 a host (75%).
    expect(rate.map((f) => [f.message.slice(0, 27), f.outcome])).toEqual([
      ['while cluster a is drained,', 'refused'],
      ['while cluster b is drained,', 'ok'],
    ]);
  });

  it('leaves a dimension without a per-host capacity unchecked, not refused', () => {
    const findings = capacityFindings({ requestsPerSecond: 5000, sampledMs: 1500, concurrency: 3 }, twoAndTwo, {
      utilisation: 0.7,
      perHost: {},
    });
    expect(findings.map((f) => f.outcome)).toEqual(['unchecked', 'unchecked']);
    expect(findings[0]!.message).toContain('capacity.perHost.requestsPerSecond');
    expect(findings[0]!.message).toContain('over 1.5 s');
  });

  it('takes the per-host concurrency from the balancer (maxconn) when baton.yml does not say', () => {
    const findings = capacityFindings(
      { requestsPerSecond: 0, sampledMs: 1000, concurrency: 90, perHostConcurrencyFromBalancer: 50 },
      twoAndTwo,
      { utilisation: 0.7, perHost: {} },
    );
    const conc = findings.filter((f) => f.message.includes('requests at once'));
    expect(conc.map((f) => f.outcome)).toEqual(['refused', 'refused']);
    expect(conc[0]!.message).toContain(
      '45 a host, 90% of the 50 requests at once one host carries (maxconn of the members, at the balancer)',
    );
  });

  it('prefers baton.yml over the balancer for concurrency', () => {
    const findings = capacityFindings(
      { requestsPerSecond: 0, sampledMs: 1000, concurrency: 90, perHostConcurrencyFromBalancer: 50 },
      twoAndTwo,
      { utilisation: 0.7, perHost: { concurrency: 100 } },
    );
    expect(
      findings
        .filter((f) => f.message.includes('requests at once'))
        .every((f) => f.outcome === 'ok' && f.message.includes('capacity.perHost.concurrency, baton.yml')),
    ).toBe(true);
  });
});

describe('memoryFindings', () => {
  const base = { pidFile: '/run/app.pid', memLimitBytes: 1000 * MiB, memLimitSource: 'MemTotal' as const };

  it('refuses a host where the process limit × the largest resident size exceeds its memory', () => {
    const [f] = memoryFindings([{ ...base, host: 'web1', rssBytesPerProcess: 60 * MiB, processes: 4 }], 20);
    expect(f).toEqual({
      check: 'memory',
      host: 'web1',
      outcome: 'refused',
      message:
        'web1: 20 processes (capacity.memory.processLimit, baton.yml) ' +
        '× 60 MiB resident (the largest of the 4 running from pid file /run/app.pid, /proc) = 1200 MiB, ' +
        'more than the 1000 MiB (MemTotal, /proc/meminfo) the host has',
    });
  });

  it('passes a host that fits and names a cgroup limit as the source', () => {
    const [f] = memoryFindings(
      [{ ...base, host: 'web2', rssBytesPerProcess: 40 * MiB, processes: 4, memLimitSource: 'cgroup memory.max' }],
      20,
    );
    expect(f!.outcome).toBe('ok');
    expect(f!.message).toContain('800 MiB, within 1000 MiB (memory.max of its cgroup)');
  });

  it('leaves a host whose process is not running unchecked, saying why', () => {
    const [f] = memoryFindings([{ ...base, host: 'web3', notMeasured: 'pid file missing' }], 20);
    expect(f!.outcome).toBe('unchecked');
    expect(f!.message).toBe(
      'web3: memory not checked: pid file missing (pid file /run/app.pid); the host has 1000 MiB (MemTotal, ' +
        '/proc/meminfo)',
    );
  });
});

describe('diskFindings', () => {
  it('refuses a host with less free than diskFactor × the release size', () => {
    const findings = diskFindings(
      [
        { host: 'web1', path: '/srv/shop', availableBytes: 150 * MiB },
        { host: 'web2', path: '/srv', availableBytes: 170 * MiB },
      ],
      { bytes: 80 * MiB, source: 'git ls-tree of v1.2.0' },
      2,
    );
    expect(findings.map((f) => f.outcome)).toEqual(['refused', 'ok']);
    expect(findings[0]!.message).toBe(
      'web1: 150 MiB free at /srv/shop (df), less than the 2 × 80 MiB (the release unpacked, ' +
        'git ls-tree of v1.2.0; capacity.diskFactor) = 160 MiB a new release needs',
    );
  });
});

describe('formatMiB', () => {
  it('gives MiB, and bytes where MiB would read as nothing', () => {
    expect(formatMiB(80 * MiB)).toBe('80 MiB');
    expect(formatMiB(1.5 * MiB)).toBe('1.5 MiB');
    expect(formatMiB(3)).toBe('3 bytes');
    expect(formatMiB(0)).toBe('0 MiB');
  });
});

describe('refusals and renderPreflight', () => {
  it('lists refusals first and ends with the verdict', () => {
    const report = {
      findings: [
        { check: 'reach' as const, host: 'web1', outcome: 'ok' as const, message: 'web1 answers' },
        { check: 'disk' as const, host: 'web2', outcome: 'refused' as const, message: 'web2: too full' },
        { check: 'memory' as const, host: 'web2', outcome: 'unchecked' as const, message: 'web2: not measured' },
      ],
    };
    expect(refusals(report).map((f) => f.message)).toEqual(['web2: too full']);
    const lines = renderPreflight(report);
    expect(lines[0]).toMatch(/^REFUSED +disk +web2: too full$/);
    expect(lines[1]).toMatch(/^unchecked +memory/);
    expect(lines.at(-1)).toBe('preflight refused: 1 finding above');
    expect(renderPreflight({ findings: [] }).at(-1)).toBe('preflight passed');
  });
});

describe('preflightRefusal: how a refused preflight ends', () => {
  const unreachable: Finding = {
    check: 'reach',
    host: 'web1',
    outcome: 'refused',
    message: 'web1: not reachable: cannot connect to web1 (deploy@web1:22): connect ECONNREFUSED',
  };
  const tooFull: Finding = { check: 'disk', host: 'web2', outcome: 'refused', message: 'web2: too full' };
  const tagOk: Finding = { check: 'tag', outcome: 'ok', message: 'tag v1 is commit abc' };

  it('nothing refused: no error', () => {
    expect(preflightRefusal({ findings: [tagOk] })).toBeUndefined();
  });

  it(
    'a host that cannot be reached exits 1, as it does from plan and push: nothing changed, ' +
      'and no override makes it answer',
    () => {
      const err = preflightRefusal({ findings: [unreachable, tagOk] })!;
      expect(err.exitCode).toBe(ExitCode.FAILED_RESTORED);
      expect(err.message).toBe(`preflight refused:\n  ${unreachable.message}`);
      expect(err.hint).toBe(
        'make the hosts named answer over SSH (address, sshd, ssh.user, known_hosts); ' +
          'nothing in production was changed',
      );
      expect(err.data).toEqual({ findings: [unreachable, tagOk] });
    },
  );

  it('an unreachable host beside another refusal is still exit 1: plan and push stop at the host first', () => {
    expect(preflightRefusal({ findings: [tooFull, unreachable] })!.exitCode).toBe(ExitCode.FAILED_RESTORED);
  });

  it('any other refusal exits 6 and offers the override', () => {
    const err = preflightRefusal({ findings: [tooFull, tagOk] })!;
    expect(err.exitCode).toBe(ExitCode.PREFLIGHT_REFUSED);
    expect(err.hint).toBe(
      'free disk on the hosts named, or lower app.keep; or run with --override-preflight REASON (journaled) ' +
        'if you know better',
    );
  });

  it('after the findings were shown, says once that they refused and does not list them again', () => {
    const report = { findings: [unreachable, tooFull, tagOk] };
    expect(renderFindings(report)).toEqual(renderPreflight(report).slice(0, -1));
    expect(renderFindings(report).join('\n')).not.toMatch(/preflight refused/);
    expect(preflightRefusal(report, { shown: true })!.message).toBe('preflight refused: 2 findings above (REFUSED)');
  });
});
