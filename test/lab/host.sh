# Building one host (sourced by up.sh): a persistent network namespace on the bridge, plus
# persistent mount and UTS namespaces in which the host's own dirs are bind-mounted over the
# shared ones. `ip netns exec` alone would share /srv and the hostname with the machine.

# Directories every host gets privately; role extras are each service's config/state dirs.
# /root too: a host has its own home, not this machine's (whose .bashrc runs `pyenv init` at
# every ssh command, ~60 ms a round trip that no real host would charge).
COMMON_DIRS=(/srv /var/log /tmp /etc/ssh /root)
role_dirs() {
  case $1 in
    balancer) echo /etc/haproxy /etc/apache2 /etc/nginx /var/lib/haproxy /etc/keepalived ;;
    peer-balancer) echo /etc/haproxy /var/lib/haproxy /etc/keepalived ;;
    dns) echo /etc/bind /var/cache/bind ;;
    old-web | new-web) echo /etc/varnish /var/lib/varnish ;;
  esac
}
# Config dirs start as a copy of the package's, so services find their usual files.
SEEDED_DIRS=" /etc/haproxy /etc/apache2 /etc/nginx /etc/bind /etc/varnish "

create_netns() {
  local id=$1 addr=$2 ns=baton-$1
  ip netns add "$ns"
  ip link add "bl-$id" type veth peer name eth0 netns "$ns"
  ip link set "bl-$id" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" -6 addr add "$(addr6_of "$addr")/64" dev eth0 nodad
  ip -n "$ns" link set eth0 up
  # No default route on purpose: a host can reach the lab subnets (IPv4 and IPv6) and nothing else.
}

# Private tree: $HOSTS_DIR/<id>/<path> is what the host sees at <path>.
prepare_tree() {
  local id=$1 fqdn=$2 role=$3 root=$HOSTS_DIR/$1 d
  mkdir -p "$root"/{srv,var/log,tmp,etc/ssh,run/sshd,run/lock,root}
  chmod 1777 "$root/tmp" "$root/run/lock"
  chmod 700 "$root/root"
  for d in $(role_dirs "$role"); do
    if [[ $SEEDED_DIRS == *" $d "* ]]; then cp -a "$d" "$root${d%/*}/" 2>/dev/null || mkdir -p "$root$d"
    else mkdir -p "$root$d"; fi
  done
  cp "$STATE/etc-hosts" "$root/etc/hosts"
  printf 'search %s\nnameserver 10.213.7.3\n' "$ZONE" >"$root/etc/resolv.conf"
}

create_mountns() {
  local id=$1 fqdn=$2 role=$3 root=$HOSTS_DIR/$1 d binds=""
  for d in "${COMMON_DIRS[@]}" $(role_dirs "$role") /etc/hosts /etc/resolv.conf; do
    binds+="mount --bind $root$d $d; "
  done
  touch "$NS_DIR/$id.mnt" "$NS_DIR/$id.uts"
  # /run goes last: the bind sources live under /run/baton-lab. The copy of $NS_DIR is dropped
  # first so a host never pins the other hosts' namespaces.
  unshare --mount="$NS_DIR/$id.mnt" --uts="$NS_DIR/$id.uts" --propagation private \
    bash -c "set -e; hostname $fqdn; umount -l $NS_DIR; $binds mount --bind $root/run /run"
}

start_sshd() {
  local id=$1 fqdn=$2 root=$HOSTS_DIR/$1
  ssh-keygen -q -t ed25519 -N '' -C "root@$fqdn" -f "$root/etc/ssh/ssh_host_ed25519_key"
  cp "$STATE/id_ed25519.pub" "$root/etc/ssh/authorized_keys"
  cp "$LAB_DIR/conf/sshd_config" "$root/etc/ssh/sshd_config"
  in_host "$id" /usr/sbin/sshd -f /etc/ssh/sshd_config
}

create_host() {
  local id=$1 fqdn=$2 addr=$3 role=$4
  create_netns "$id" "$addr"
  prepare_tree "$id" "$fqdn" "$role"
  create_mountns "$id" "$fqdn" "$role"
  start_sshd "$id" "$fqdn"
}
