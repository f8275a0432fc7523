// What the configuration may name on each balancer, and the defaults it shows: the schema checks
// baton.yml against these, and the drivers check again what reaches a host.

/** A HAProxy backend, server or stick-table name. */
export const HAPROXY_NAME = /^[A-Za-z0-9_.:-]+$/;
/** An Apache balancer name (it goes into a URL query and a config pattern). */
export const APACHE_BALANCER_NAME = /^[A-Za-z0-9_.-]+$/;
/** An nginx upstream name. */
export const NGINX_UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;
/** nginx in mode lua: the control endpoint as reached from the balancer host. */
export const DEFAULT_LUA_CONTROL_URL = 'http://127.0.0.1:8089/baton';
/** nginx in mode lua: the members file the Lua side loads, which baton rewrites. */
export const DEFAULT_LUA_STATE_FILE = '/etc/nginx/baton-upstreams.json';
