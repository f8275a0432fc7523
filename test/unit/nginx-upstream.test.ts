import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findServer, setDown, upstreamServers } from '../../src/balancers/nginx-upstream.js';

const CONF = readFileSync(new URL('../fixtures/nginx/baton-upstream.conf', import.meta.url), 'utf8');

describe('nginx upstream file (the lab, captured)', () => {
  it('reads the servers of one upstream, named by their trailing comment', () => {
    expect(
      upstreamServers(CONF, 'web')?.map((s) => `${s.name}=${s.address}:${s.port}${s.down ? ' down' : ''}@${s.line}`),
    ).toEqual([
      'web1a=10.213.7.11:8000@1',
      'web2a=10.213.7.12:8000@2',
      'web1b=10.213.7.41:8000@3',
      'web2b=10.213.7.42:8000@4',
    ]);
    expect(upstreamServers(CONF, 'prod_b')?.map((s) => s.name)).toEqual(['web1b', 'web2b']);
    expect(upstreamServers(CONF, 'nope')).toBeUndefined();
  });

  it('marks servers down in that upstream only, keeping comments, and back', () => {
    const r = setDown(CONF, 'web', ['web1a', '10.213.7.12:8000'], true);
    expect(r).toMatchObject({ changed: true, missing: [] });
    const lines = r.text.split('\n');
    expect(lines[1]).toBe('    server 10.213.7.11:8000 down;  # web1a');
    expect(lines[2]).toBe('    server 10.213.7.12:8000 down;  # web2a');
    expect(lines[8]).toBe('    server 10.213.7.11:8000;  # web1a');
    expect(
      upstreamServers(r.text, 'web')
        ?.filter((s) => s.down)
        .map((s) => s.name),
    ).toEqual(['web1a', 'web2a']);
    expect(setDown(r.text, 'web', ['web1a'], true).changed).toBe(false);
    expect(setDown(r.text, 'web', ['web1a', 'web2a'], false).text).toBe(CONF);
  });

  it('keeps other parameters, names unnamed servers by address, and lists the missing', () => {
    const conf =
      'upstream api {\n  server 10.0.0.1:9000 weight=3 max_fails=2;\n  server [fd00::2]:9000 backup;\n  ' +
      'keepalive 8;\n}\n';
    const servers = upstreamServers(conf, 'api')!;
    expect(servers.map((s) => `${s.name} ${s.params.join(',')}`)).toEqual([
      '10.0.0.1:9000 weight=3,max_fails=2',
      'fd00::2:9000 backup',
    ]);
    expect(findServer(servers, '10.0.0.1:9000')?.address).toBe('10.0.0.1');
    const r = setDown(conf, 'api', ['10.0.0.1:9000', 'web9'], true);
    expect(r.text.split('\n')[1]).toBe('  server 10.0.0.1:9000 weight=3 max_fails=2 down;');
    expect(r.missing).toEqual(['web9']);
  });
});
