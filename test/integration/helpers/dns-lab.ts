// What every DNS drill in the lab ends with: the lab's DNS, TTL and old host as the lab made them.
import { execa } from 'execa';
import { expect } from 'vitest';
import { LAB_TTL_S, onHost } from '../../../bench/dns.js';
import { queryAuthoritative } from '../../../src/dns/query.js';

/** old-site's A and AAAA records at the lab's TTL, no transitional name, old-web serving it with no baton-dns left. */
export async function labIsAsFound(): Promise<void> {
  // The address, and the lab's TTL: a TTL lowered by the drill is raised back by its rollback.
  expect(
    (await queryAuthoritative('10.213.7.3', 'old-site.baton.test', 'A')).answers.map((a) => `${a.data}/${a.ttl}`),
  ).toEqual([`10.213.7.4/${LAB_TTL_S}`]);
  expect(
    (await queryAuthoritative('10.213.7.3', 'old-site.baton.test', 'AAAA')).answers.map((a) => `${a.data}/${a.ttl}`),
  ).toEqual([`fd10:213:7::4/${LAB_TTL_S}`]);
  expect((await queryAuthoritative('10.213.7.3', 'transitional.baton.test', 'A')).rcode).toBe('NXDOMAIN');
  expect(JSON.parse((await execa('curl', ['-s', '-m', '5', 'http://10.213.7.4/version'])).stdout)).toMatchObject({
    host: 'old-web.baton.test',
  });
  expect((await onHost('old-web.baton.test', ['ls', '/srv'])).stdout.split('\n')).not.toContain('baton-dns');
}
