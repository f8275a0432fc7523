# Control-side files (the contract in test/lab/README.md): key pair, known_hosts, ssh_config,
# lab.json and the lab app's git repository.

make_control_files() {
  mkdir -p "$STATE/logs"
  ensure_deploy_user
  ssh-keygen -q -t ed25519 -N '' -C baton-lab-control -f "$STATE/id_ed25519"
  host_table >"$STATE/hosts.tsv"
  local id fqdn addr role cluster
  {
    printf '127.0.0.1 localhost\n'
    while read -r id fqdn addr role cluster; do printf '%s %s %s\n' "$addr" "$fqdn" "${fqdn%.$ZONE}"; done <"$STATE/hosts.tsv"
  } >"$STATE/etc-hosts"
}

# One commit per tag; release.json carries what differs. Fixed author and dates make the tag
# SHAs the same on every `up`, so plans written against one lab still name the same commits.
make_repo() {
  local repo=$STATE/repo tag healthy delay writes msg
  mkdir -p "$repo"
  cp "$LAB_DIR/app/server.js" "$LAB_DIR/app/package.json" "$repo/"
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
    GIT_AUTHOR_NAME="baton lab" GIT_AUTHOR_EMAIL=lab@$ZONE GIT_AUTHOR_DATE=2025-01-01T00:00:00Z \
    GIT_COMMITTER_NAME="baton lab" GIT_COMMITTER_EMAIL=lab@$ZONE GIT_COMMITTER_DATE=2025-01-01T00:00:00Z
  git -C "$repo" init -q -b main
  while read -r tag healthy delay writes msg; do
    if [[ $writes == fail ]]; then
      printf '{ "version": "%s", "healthy": %s, "startDelayMs": %s, "writesFail": true }\n' "$tag" "$healthy" "$delay" >"$repo/release.json"
    elif [[ $writes == flaky ]]; then
      printf '{ "version": "%s", "healthy": %s, "startDelayMs": %s, "failEvery": 10 }\n' "$tag" "$healthy" "$delay" >"$repo/release.json"
    elif [[ $writes == resets ]]; then
      printf '{ "version": "%s", "healthy": %s, "startDelayMs": %s, "resetEvery": 5 }\n' "$tag" "$healthy" "$delay" >"$repo/release.json"
    elif [[ $writes == slow ]]; then
      printf '{ "version": "%s", "healthy": %s, "startDelayMs": %s, "slowMs": 40 }\n' "$tag" "$healthy" "$delay" >"$repo/release.json"
    else
      printf '{ "version": "%s", "healthy": %s, "startDelayMs": %s }\n' "$tag" "$healthy" "$delay" >"$repo/release.json"
    fi
    [[ $tag == v[678]-db* ]] && db_release "$repo" "$tag" "$healthy" "$delay"
    if [[ $tag == v10-build ]]; then built_release "$repo"; else rm -rf "$repo/vendor" "$repo/build.sh"; fi
    git -C "$repo" add -A
    git -C "$repo" commit -q -m "$tag: $msg"
    git -C "$repo" tag "$tag"
  done <<EOF2
v1 true 0 ok first release
v2 true 0 ok second release
v3-broken false 0 ok health check answers 500
v4-slow true 5000 ok takes 5 s to start listening
v5-writes-fail true 0 fail passes its checks, but every POST /write answers 500
v6-db true 0 ok reads orders (id, item, qty) from the shared database; its expand creates the table
v7-db-expand true 0 ok reads quantity instead of qty: its expand adds the column (v6 still works), its contract drops qty
v8-db-breaking true 0 ok reads product: its expand renames item, which v6 and v7 still read
v9-flaky true 0 flaky passes its checks, but one GET / in ten answers 500
v10-slow true 0 slow passes its checks, but every GET / answers 40 ms later
v10-build true 0 ok has a real build: esbuild bundles and minifies the vendored TypeScript compiler into dist/ (~21 MB)
v11-resets true 0 resets passes its checks, but one GET / in five has its connection reset without an answer
EOF2
  unset GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM
  V1_SHORT=$(git -C "$repo" rev-parse --short=7 'v1^{commit}')
}

# A release that uses the database: the columns it reads, and its migrations (`./migrate
# expand|reverse|contract`, what baton.yml's migrate commands run in the release's directory).
db_release() {
  local repo=$1 tag=$2 healthy=$3 delay=$4 columns
  rm -rf "$repo/migrations"
  mkdir -p "$repo/migrations"
  case $tag in
    v6-db)
      columns='"id", "item", "qty"'
      printf '%s\n' "CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text NOT NULL, qty int NOT NULL);" \
        "INSERT INTO orders (item, qty) SELECT 'teapot', 2 WHERE NOT EXISTS (SELECT 1 FROM orders);" >"$repo/migrations/expand.sql" ;;
    v7-db-expand)
      columns='"id", "item", "quantity"'
      printf '%s\n' "ALTER TABLE orders ADD COLUMN IF NOT EXISTS quantity int;" "UPDATE orders SET quantity = qty WHERE quantity IS NULL;" >"$repo/migrations/expand.sql"
      echo "ALTER TABLE orders DROP COLUMN IF EXISTS quantity;" >"$repo/migrations/reverse.sql"
      echo "ALTER TABLE orders DROP COLUMN IF EXISTS qty;" >"$repo/migrations/contract.sql" ;;
    v8-db-breaking)
      columns='"id", "product", "quantity"'
      echo "ALTER TABLE orders RENAME COLUMN item TO product;" >"$repo/migrations/expand.sql"
      echo "ALTER TABLE orders RENAME COLUMN product TO item;" >"$repo/migrations/reverse.sql" ;;
  esac
  printf '{ "version": "%s", "healthy": %s, "startDelayMs": %s, "db": { "columns": [%s] } }\n' "$tag" "$healthy" "$delay" "$columns" >"$repo/release.json"
  cp "$LAB_DIR/app/migrate" "$repo/migrate"
}

# A release with a real build (the artifact benchmarks): the TypeScript compiler from the checkout's
# node_modules as vendored source (the lock file pins its version, so the tag's SHA stays the same)
# and build.sh, which bundles and minifies it with esbuild offline. The app itself is v2's.
built_release() {
  local repo=$1 modules
  modules=$(cd "$LAB_DIR/../.." && pwd)/node_modules/typescript
  [[ -f $modules/lib/typescript.js ]] || { echo "no typescript in ${modules%/typescript}: run npm ci first" >&2; return 1; }
  mkdir -p "$repo/vendor"
  cp "$modules/lib/typescript.js" "$repo/vendor/typescript.js"
  cp "$modules/LICENSE.txt" "$repo/vendor/LICENSE.txt"
  cp "$LAB_DIR/app/build.sh" "$repo/build.sh"
}

# The deploy user (hosts share /etc/passwd and /etc/sudoers.d with this machine): not locked, so
# sshd lets it in with the lab key; in the haproxy group (runtime socket) and adm (logs); allowed
# through sudo exactly what the README's minimal sudoers file allows.
ensure_deploy_user() {
  id -u "$DEPLOY_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$DEPLOY_USER"
  usermod -p '*' -a -G haproxy,adm "$DEPLOY_USER"
  local sudoers
  sudoers=$(mktemp)
  cat >"$sudoers" <<EOF2
# The baton lab's deploy user: README "Running as a deploy user", nothing more.
$DEPLOY_USER ALL=(root) NOPASSWD: /usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg
$DEPLOY_USER ALL=(root) NOPASSWD: /usr/sbin/apache2ctl configtest
$DEPLOY_USER ALL=(root) NOPASSWD: /usr/sbin/nginx -t, /usr/sbin/nginx -s reload
$DEPLOY_USER ALL=(root) NOPASSWD: /usr/sbin/tc -batch -, /usr/sbin/tc qdisc del dev * root
EOF2
  visudo -cqf "$sudoers" && install -m 440 "$sudoers" /etc/sudoers.d/baton-lab
  rm -f "$sudoers"
}

write_ssh_files() {
  local id fqdn addr role cluster
  : >"$STATE/known_hosts"
  : >"$STATE/ssh_config"
  while read -r id fqdn addr role cluster; do
    printf '%s,%s %s\n' "$fqdn" "$addr" "$(cut -d' ' -f1,2 "$HOSTS_DIR/$id/etc/ssh/ssh_host_ed25519_key.pub")" >>"$STATE/known_hosts"
    printf 'Host %s %s\n    HostName %s\n' "$fqdn" "${fqdn%.$ZONE}" "$addr" >>"$STATE/ssh_config"
    ssh_client_options >>"$STATE/ssh_config"
    echo >>"$STATE/ssh_config"
  done <"$STATE/hosts.tsv"
  # Bare addresses too (ssh 10.213.7.11): known_hosts lists every host's IP as well.
  echo 'Host 10.213.7.*' >>"$STATE/ssh_config"
  ssh_client_options >>"$STATE/ssh_config"
}

# What every lab host entry of ssh_config says: the deploy user, the lab key, the lab's known_hosts, always checked.
ssh_client_options() {
  cat <<EOF2
    User $DEPLOY_USER
    IdentityFile $STATE/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $STATE/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
EOF2
}

write_lab_json() {
  local id fqdn addr role cluster sep="" hosts="" tags="" tag
  while read -r id fqdn addr role cluster; do
    hosts+="$sep    { \"name\": \"$fqdn\", \"short\": \"${fqdn%.$ZONE}\", \"address\": \"$addr\", \"address6\": \"$(addr6_of "$addr")\", \"role\": \"$role\""
    [[ $role == app ]] && hosts+=", \"cluster\": \"$cluster\", \"member\": \"$id\""
    hosts+=" }"
    sep=$',\n'
  done <"$STATE/hosts.tsv"
  sep=""
  for tag in v1 v2 v3-broken v4-slow v5-writes-fail v6-db v7-db-expand v8-db-breaking v9-flaky v10-slow v10-build v11-resets; do
    tags+="$sep\"$tag\": \"$(git -C "$STATE/repo" rev-parse "$tag^{commit}")\""
    sep=", "
  done
  cat >"$STATE/lab.json" <<EOF2
{
  "zone": "$ZONE",
  "subnet": "$SUBNET",
  "subnet6": "$SUBNET6",
  "perCluster": $PER_CLUSTER,
  "hosts": [
$hosts
  ],
  "balancer": {
    "host": "lb.$ZONE",
    "address": "10.213.7.2",
    "haproxy": { "port": 80, "socket": "/run/haproxy/admin.sock", "backend": "web", "config": "/etc/haproxy/haproxy.cfg", "pidFile": "/run/haproxy.pid", "serverStateFile": "/var/lib/haproxy/server-state" },
    "apache": { "port": 8080, "balancer": "web", "manager": "/balancer-manager", "pidFile": "/run/apache2/apache2.pid" },
    "nginx": { "port": 8088, "upstream": "web", "upstreamFile": "/etc/nginx/baton-upstream.conf", "pidFile": "/run/nginx.pid" },
    "nginxLua": { "port": 8090, "upstream": "web_lua", "controlUrl": "http://127.0.0.1:8089/baton", "stateFile": "/etc/nginx/baton-upstreams.json", "accessLog": "/var/log/nginx/public-lua.log" }
  },
  "pair": { "peer": "lb2.$ZONE", "vip": "$VIP", "serverStateFile": "/var/lib/haproxy/server-state", "keepalivedPidFile": "/run/keepalived.pid" },
  "prometheus": { "url": "http://$PROM_ADDR:$PROM_PORT", "job": "shop", "labels": ["cluster", "member", "host"] },
  "dns": { "address": "10.213.7.3", "address6": "$(addr6_of 10.213.7.3)", "tsigKeyFile": "$STATE/tsig.key", "tsigKeyName": "$TSIG_NAME" },
  "ssh": { "config": "$STATE/ssh_config", "knownHosts": "$STATE/known_hosts", "identityFile": "$STATE/id_ed25519" },
  "repo": "$STATE/repo",
  "tags": { $tags }
}
EOF2
}
