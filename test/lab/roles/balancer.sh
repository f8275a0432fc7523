# lb: HAProxy (:80), Apache mod_proxy_balancer (:8080) and nginx (:8088) all at once, so the
# contract tests of every driver run without restarting anything. Each balances `web` (all app
# hosts) and routes Host prod-a/prod-b.<zone> to `prod_a`/`prod_b` (one cluster each).
# Reads APPS: lines "member address cluster".

haproxy_servers() {
  local member addr cluster
  while read -r member addr cluster; do
    [[ -z ${1:-} || $cluster == "$1" ]] && echo "    server $member $addr:8000 check"
  done <<<"$APPS"
}

haproxy_cfg() {
  cat <<EOF2
global
    daemon
    pidfile /run/haproxy.pid
    maxconn 4096
    # The deploy user reaches the runtime API through the socket's group, never as root.
    stats socket /run/haproxy/admin.sock mode 660 level admin group haproxy expose-fd listeners
    # A driver saves 'show servers state' here before a reload so drains survive it.
    server-state-file /var/lib/haproxy/server-state

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    # A refused connection is retried on another server and counted as a redispatch.
    retries 2
    option redispatch
    load-server-state-from-file global
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2

frontend public
    bind :80
    acl prod_a req.hdr(host),field(1,:) -i prod-a.$ZONE
    acl prod_b req.hdr(host),field(1,:) -i prod-b.$ZONE
    use_backend prod_a if prod_a
    use_backend prod_b if prod_b
    default_backend web

backend web
    # Sticky sessions for clients that send a shop_session cookie (the session tests and
    # bench:sessions); a request without one is balanced as before. An entry expires after
    # 30 minutes without a request, as an application's own session would.
    stick-table type string len 64 size 100k expire 30m
    stick on req.cook(shop_session)
$(haproxy_servers)

backend prod_a
$(haproxy_servers a)

backend prod_b
$(haproxy_servers b)
EOF2
}

apache_members() {
  local member addr cluster
  while read -r member addr cluster; do
    # retry=15: a worker Apache put in error state rests 15 s, not its default 60 s (a canary's
    # reversal waits that rest out; baton reads it from the manager's XML).
    [[ -z ${1:-} || $cluster == "$1" ]] && echo "        BalancerMember http://$addr:8000 route=$member retry=15"
  done <<<"$APPS"
}

# One VirtualHost holds all three balancers, so one /balancer-manager manages them all, and
# BalancerPersist stays Off: the config file is the truth at every (re)start, manager changes
# are runtime only (FACTS.md: pick one method).
apache_site() {
  cat <<EOF2
Listen 8080
<VirtualHost *:8080>
    ServerName lb.$ZONE
    ProxyPreserveHost On
    # The public frontend's requests and answers, combined then the time taken and the worker
    # that answered: what the watch and the canary count and time (balancer.accessLog).
    LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" time_us=\"%D\" upstream=\"%{BALANCER_WORKER_NAME}e\"" baton
    CustomLog /var/log/apache2/public.log baton
    <Proxy balancer://web>
$(apache_members)
    </Proxy>
    <Proxy balancer://prod_a>
$(apache_members a)
    </Proxy>
    <Proxy balancer://prod_b>
$(apache_members b)
    </Proxy>
    <Location /balancer-manager>
        SetHandler balancer-manager
        Require ip 10.213.7.0/24 127.0.0.1
    </Location>
    RewriteEngine On
    RewriteRule ^/balancer-manager - [L]
    RewriteCond %{HTTP_HOST} ^prod-a\.${ZONE//./\\.}(:[0-9]+)?$ [NC]
    RewriteRule ^/(.*)$ balancer://prod_a/\$1 [P,L]
    RewriteCond %{HTTP_HOST} ^prod-b\.${ZONE//./\\.}(:[0-9]+)?$ [NC]
    RewriteRule ^/(.*)$ balancer://prod_b/\$1 [P,L]
    RewriteRule ^/(.*)$ balancer://web/\$1 [P,L]
</VirtualHost>
EOF2
}

nginx_upstreams() {
  local name cluster member addr c
  for name in web prod_a prod_b; do
    cluster=${name#prod_}; [[ $name == web ]] && cluster=""
    echo "upstream $name {"
    while read -r member addr c; do
      [[ -z $cluster || $c == "$cluster" ]] && echo "    server $addr:8000;  # $member"
    done <<<"$APPS"
    echo "    keepalive 16;"
    echo "}"
  done
}

# The reload-free nginx (balancer.mode: lua) on :8090, in the same nginx: upstream `web_lua` is
# the shipped templates/nginx/baton-lua.conf with its upstream renamed, members and their
# states in the state file the Lua side loads (what baton rewrites), control on 127.0.0.1:8089.
nginx_lua_state() {
  local member addr cluster sep=""
  printf '{\n  "web_lua": [\n'
  while read -r member addr cluster; do
    printf '%s    { "name": "%s", "address": "%s", "port": 8000, "state": "ready" }' "$sep" "$member" "$addr"
    sep=$',\n'
  done <<<"$APPS"
  printf '\n  ]\n}\n'
}

setup_nginx_lua() {
  local root=$1 templates=$LAB_DIR/../../templates/nginx
  mkdir -p "$root/etc/nginx/lua"
  cp "$templates/baton_balancer.lua" "$root/etc/nginx/lua/"
  sed -e 's/^upstream web {/upstream web_lua {/' -e 's/balance("web")/balance("web_lua")/' "$templates/baton-lua.conf" >"$root/etc/nginx/baton-lua.conf"
  nginx_lua_state >"$root/etc/nginx/baton-upstreams.json"
}

# What the deploy user changes without sudo: the files baton rewrites (each beside itself, so the
# folder too), the HAProxy server-state folder (through the haproxy group), and the lock's folder.
deploy_owns_balancer_files() {
  local root=$1 f
  chgrp haproxy "$root/var/lib/haproxy" "$root/var/lib/haproxy/server-state"
  chmod 2775 "$root/var/lib/haproxy"
  chmod 664 "$root/var/lib/haproxy/server-state"
  for f in etc/apache2/sites-enabled etc/apache2/sites-enabled/baton.conf etc/nginx etc/nginx/baton-upstream.conf etc/nginx/baton-upstreams.json; do
    [[ ! -e $root/$f ]] || chown "$DEPLOY_USER:$DEPLOY_USER" "$root/$f"
  done
  install -d -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$root/run/baton"
}

setup_balancer() {
  local root=$HOSTS_DIR/lb
  haproxy_cfg >"$root/etc/haproxy/haproxy.cfg"
  mkdir -p "$root/run/haproxy"
  echo 1 >"$root/var/lib/haproxy/server-state"  # format version only: no saved state yet

  # Only the lab's site: the package default would also claim :80, which HAProxy owns here.
  rm -f "$root"/etc/apache2/sites-enabled/* "$root/etc/apache2/ports.conf"
  touch "$root/etc/apache2/ports.conf"
  apache_site >"$root/etc/apache2/sites-enabled/baton.conf"
  local m
  for m in proxy proxy_http proxy_balancer lbmethod_byrequests slotmem_shm rewrite; do
    ln -sf ../mods-available/$m.load "$root/etc/apache2/mods-enabled/$m.load"
    [[ -e $root/etc/apache2/mods-available/$m.conf ]] && ln -sf ../mods-available/$m.conf "$root/etc/apache2/mods-enabled/$m.conf"
  done
  mkdir -p "$root/var/log/apache2"

  # The upstreams live in their own file so a driver can rewrite just them and reload.
  nginx_upstreams >"$root/etc/nginx/baton-upstream.conf"
  setup_nginx_lua "$root"
  cp "$LAB_DIR/conf/nginx.conf" "$root/etc/nginx/nginx.conf"
  sed -i "s/@ZONE@/$ZONE/g" "$root/etc/nginx/nginx.conf"
  mkdir -p "$root/var/log/nginx"

  deploy_owns_balancer_files "$root"
  in_host lb haproxy -c -q -f /etc/haproxy/haproxy.cfg
  in_host lb haproxy -f /etc/haproxy/haproxy.cfg
  keepalived_conf MASTER 150 >"$root/etc/keepalived/keepalived.conf"
  start_keepalived lb
  in_host lb apache2ctl start
  in_host lb nginx
}

# The pair: lb2 runs the same HAProxy as lb, and keepalived on both moves the floating address
# $VIP between them (VRRP over the lab bridge; lb is MASTER, lb2 BACKUP). Traffic through $VIP
# reaches whichever holds it: what a site with two balancers looks like.
keepalived_conf() {
  local state=$1 priority=$2
  cat <<EOF2
global_defs {
    router_id $state
    # No scripts run: nothing to secure here, and keepalived says so rather than warn.
    enable_script_security
}
vrrp_instance pair {
    state $state
    interface eth0
    virtual_router_id 57
    priority $priority
    advert_int 1
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
}
EOF2
}

start_keepalived() {
  local id=$1
  in_host "$id" keepalived -f /etc/keepalived/keepalived.conf -p /run/keepalived.pid -r /run/keepalived-vrrp.pid --log-detail
}

setup_peer_balancer() {
  local root=$HOSTS_DIR/lb2
  haproxy_cfg >"$root/etc/haproxy/haproxy.cfg"
  mkdir -p "$root/run/haproxy"
  echo 1 >"$root/var/lib/haproxy/server-state"
  deploy_owns_balancer_files "$root"
  in_host lb2 haproxy -c -q -f /etc/haproxy/haproxy.cfg
  in_host lb2 haproxy -f /etc/haproxy/haproxy.cfg
  keepalived_conf BACKUP 100 >"$root/etc/keepalived/keepalived.conf"
  start_keepalived lb2
}
