# App hosts and the DNS-drill hosts: the lab app deployed the way baton deploys it
# (git archive of a tag into /srv/shop/releases/<tag>-<shortsha>, `current` symlink), run by
# shopctl. old-web/new-web serve the same app on :80 as the drill's site (no balancer there).

setup_app() {
  local id=$1 role=$2 srv=$HOSTS_DIR/$1/srv release=v1-$V1_SHORT
  mkdir -p "$srv/shop/releases" "$srv/shop/bin" "$srv/shop/run" "$srv/shop/log" "$srv/shop-data"
  git -C "$STATE/repo" archive v1 | tar -x -C "$srv/shop/releases" --one-top-level="$release"
  ln -sfn "releases/$release" "$srv/shop/current"
  install -m 755 "$LAB_DIR/app/shopctl" "$srv/shop/bin/shopctl"
  if [[ $role == app ]]; then
    # The database releases (v6-db…) reach the shared PostgreSQL on db with the checkout's pg client.
    printf 'export DATABASE_URL=%s\nexport SHOP_PG_MODULE=%s\n' "$DATABASE_URL" "$(cd "$LAB_DIR/../.." && pwd)/node_modules/pg/lib/index.js" >"$srv/shop/shop.env"
  else
    echo "PORT=80" >"$srv/shop/shop.env"
  fi
  in_host "$id" /srv/shop/bin/shopctl start >/dev/null
}
