import { hostname, userInfo } from 'node:os';

/** Who is acting, for the lock and the journal: BATON_USER, else user@host. */
export function actor(): string {
  return process.env.BATON_USER || `${userInfo().username}@${hostname()}`;
}
