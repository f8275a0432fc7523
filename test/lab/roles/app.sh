# App hosts and the DNS-drill hosts: the lab app deployed the way baton deploys it
# (git archive of a tag into /srv/shop/releases/<tag>-<shortsha>, `current` symlink), run by
# shopctl. old-web/new-web serve the same app on :80 as the drill's site (no balancer there).

setup_app() {
  local id=$1 role=$2 srv=$HOSTS_DIR/$1/srv release=v1-$V1_SHORT
  mkdir -p "$srv/shop/releases" "$srv/shop/bin" "$srv/shop/run" "$srv/shop/log" "$srv/shop-data"
  git -C "$STATE/repo" archive v1 | tar -x -C "$srv/shop/releases" --one-top-level="$release"
  ln -sfn "releases/$release" "$srv/shop/current"
  install -m 755 "$LAB_DIR/app/shopctl" "$srv/shop/bin/shopctl"
  [[ $role == app ]] || echo "PORT=80" >"$srv/shop/shop.env"
  in_host "$id" /srv/shop/bin/shopctl start >/dev/null
}
