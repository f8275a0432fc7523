# App hosts and the DNS-drill hosts: the lab app deployed the way baton deploys it
# (git archive of a tag into /srv/shop/releases/<tag>-<shortsha>, `current` symlink), run by
# shopctl. old-web/new-web serve the same app on :80 as the drill's site (no balancer there).

# The pg client and the packages it needs, from the checkout's node_modules into the app root,
# where a release's `import('pg')` finds it (Node looks in the parent folders' node_modules).
# Copied, not linked: hosts have a private /tmp, and a checkout there would be out of their sight.
copy_pg_client() {
  local dest=$1 modules p
  modules=$(cd "$LAB_DIR/../.." && pwd)/node_modules
  mkdir -p "$dest"
  for p in $(node -e '
    const fs = require("fs"), dir = process.argv[1], seen = new Set(), todo = ["pg"];
    while (todo.length) {
      const name = todo.pop(), file = `${dir}/${name}/package.json`;
      if (seen.has(name) || !fs.existsSync(file)) continue;
      seen.add(name);
      todo.push(...Object.keys(JSON.parse(fs.readFileSync(file, "utf8")).dependencies ?? {}));
    }
    if (!seen.has("pg")) { console.error(`no pg in ${dir}: run npm ci first`); process.exit(1); }
    console.log([...seen].join("\n"));' "$modules"); do
    cp -a "$modules/$p" "$dest/"
  done
}

setup_app() {
  local id=$1 role=$2 srv=$HOSTS_DIR/$1/srv release=v1-$V1_SHORT
  mkdir -p "$srv/shop/releases" "$srv/shop/bin" "$srv/shop/run" "$srv/shop/log" "$srv/shop-data"
  git -C "$STATE/repo" archive v1 | tar -x -C "$srv/shop/releases" --one-top-level="$release"
  ln -sfn "releases/$release" "$srv/shop/current"
  install -m 755 "$LAB_DIR/app/shopctl" "$srv/shop/bin/shopctl"
  if [[ $role == app ]]; then
    # The database releases (v6-db…) reach the shared PostgreSQL on db with the pg client.
    # Idle keep-alive connections are kept 65 s on odd-numbered hosts and never closed on even ones.
    local n=${id//[!0-9]/} keepalive=0
    ((n % 2)) && keepalive=65000
    printf 'export DATABASE_URL=%s\nexport KEEPALIVE_MS=%s\n' "$DATABASE_URL" "$keepalive" >"$srv/shop/shop.env"
    copy_pg_client "$srv/shop/node_modules"
  else
    # The drill's site answers over IPv4 and IPv6 (its AAAA record).
    printf 'PORT=80\nLISTEN_HOST=::\n' >"$srv/shop/shop.env"
  fi
  # The DNS drill's site listens on :80: its hosts let users bind from port 80 up (as a fleet
  # would with this sysctl or setcap), so the deploy user runs the site and the transitional proxy.
  [[ $role == app ]] || ip netns exec "baton-$id" sysctl -q -w net.ipv4.ip_unprivileged_port_start=80
  # The deploy user owns the deploy root and runs the app, as baton will restart it.
  chown -R "$DEPLOY_USER:$DEPLOY_USER" "$srv"
  in_host "$id" runuser -u "$DEPLOY_USER" -- /srv/shop/bin/shopctl start >/dev/null
}
