# `lab.sh down`: ends only processes named by pid files inside the lab hosts' private dirs (and
# only if they really run in that host's namespace), then removes namespaces, links, mounts and
# the state dir. Safe to run twice, and after a crashed `up`.

# Every pid file a lab host has: daemons under its /run, the app (and others) under /srv/*/run.
host_pids() {
  local root=$HOSTS_DIR/$1 f p
  for f in $(find "$root/run" "$root/srv" -maxdepth 3 -name '*.pid' 2>/dev/null); do
    # The pid is the first line (PostgreSQL's postmaster.pid has more lines, digits among them).
    p=$(head -n 1 "$f" | head -c 20 | tr -dc 0-9)
    if [[ -n $p ]] && alive "$p" && pid_in_host "$1" "$p"; then echo "$p"; fi
  done
  return 0
}

lab_down() {
  local id ids pids=() p i
  ids=$(existing_ids)
  for id in $ids; do pids+=($(host_pids "$id")); done
  ((${#pids[@]} == 0)) || kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    for p in "${pids[@]}"; do alive "$p" && break; p=""; done
    [[ -z ${p:-} ]] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  for id in $ids; do
    umount "$NS_DIR/$id.mnt" "$NS_DIR/$id.uts" 2>/dev/null || true
    ip netns del "baton-$id" 2>/dev/null || true
    # The root end outlives the namespace if a stray process still holds it.
    ip link del "bl-$id" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  umount "$NS_DIR" 2>/dev/null || true
  rm -rf "$STATE"
  echo "lab down"
}
