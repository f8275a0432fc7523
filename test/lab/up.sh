# `lab.sh up`: a healthy lab is kept; anything else is rebuilt from a clean slate (down first),
# so a crashed or half-finished run is repaired by running up again. Hosts are built in parallel, one background job each.

setup_network() {
  # Kept even after `down`: with the bridge gone, lab addresses hit this instead of the default route.
  ip route replace unreachable "$GUARD_ROUTE"
  ip -6 route replace unreachable "$GUARD_ROUTE6"
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
  # nodad: usable at once (duplicate address detection would hold it a second or two).
  ip -6 addr add "$BRIDGE_ADDR6/64" dev "$BRIDGE" nodad
  ip link set "$BRIDGE" up
  mkdir -p "$NS_DIR"
  # unshare --mount=FILE needs the file on a private mount (else the namespace can pin itself).
  mount --bind "$NS_DIR" "$NS_DIR"
  mount --make-private "$NS_DIR"
}

build_host() {
  local id=$1 fqdn=$2 addr=$3 role=$4
  set -e
  create_host "$id" "$fqdn" "$addr" "$role"
  case $role in
    balancer) setup_balancer ;;
    peer-balancer) setup_peer_balancer ;;
    dns) setup_dns ;;
    db) setup_db ;;
    monitor) setup_monitor ;;
    *) setup_app "$id" "$role" ;;
  esac
}

curl_lab() { curl --noproxy '*' -fsS -m 2 "$@"; }

# Every host's sshd, every balancer member UP in HAProxy, Apache, nginx, DNS, the drill sites.
lab_ready() {
  local id fqdn addr role cluster
  bridge_up || { echo "bridge $BRIDGE is gone" >&2; return 1; }
  while read -r id fqdn addr role cluster; do
    timeout 1 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null || return 1
  done <"$STATE/hosts.tsv"
  local stat
  stat=$(echo "show stat -1 4 -1" | in_host lb socat stdio /run/haproxy/admin.sock) || return 1
  [[ $(awk -F, '$1 == "web" && $18 == "UP"' <<<"$stat" | wc -l) -eq $((2 * PER_CLUSTER)) ]] || return 1
  stat=$(echo "show stat -1 4 -1" | in_host lb2 socat stdio /run/haproxy/admin.sock) || return 1
  [[ $(awk -F, '$1 == "web" && $18 == "UP"' <<<"$stat" | wc -l) -eq $((2 * PER_CLUSTER)) ]] || return 1
  curl_lab -o /dev/null "http://$VIP/" || return 1
  curl_lab -o /dev/null http://10.213.7.2:8080/ && curl_lab -o /dev/null http://10.213.7.2:8088/ && curl_lab -o /dev/null http://10.213.7.2:8090/ || return 1
  curl_lab -o /dev/null http://10.213.7.4/healthz && curl_lab -o /dev/null http://10.213.7.5/healthz || return 1
  [[ $(dig +short +time=1 +tries=1 @10.213.7.3 "lb.$ZONE" A) == 10.213.7.2 ]] || return 1
  # IPv6: the DNS server over it, the drill's site by its AAAA record.
  [[ $(dig +short +time=1 +tries=1 @"$(addr6_of 10.213.7.3)" "old-site.$ZONE" AAAA) == "$(addr6_of 10.213.7.4)" ]] || return 1
  curl_lab -o /dev/null "http://[$(addr6_of 10.213.7.4)]/healthz" && curl_lab -o /dev/null "http://[$(addr6_of 10.213.7.5)]/healthz" || return 1
  "$(pg_bin)/pg_isready" -q -h 10.213.7.6 -t 1 || return 1
  curl_lab -o /dev/null "http://$PROM_ADDR:$PROM_PORT/-/ready"
}

print_hosts() {
  awk '{ printf "%-8s %-26s %-12s %-9s %s\n", $1, $2, $3, $4, $5 }' "$STATE/hosts.tsv"
}

lab_up() {
  check_per_cluster
  ensure_packages
  # A healthy lab of the asked size is left alone: other sessions may be using it right now.
  # (A lab built before it had IPv6, without subnet6 in lab.json, is rebuilt.)
  if lab_status >/dev/null 2>&1 && grep -q "\"perCluster\": $PER_CLUSTER," "$STATE/lab.json" &&
    grep -q '"subnet6"' "$STATE/lab.json"; then
    echo "lab already up: $(wc -l <"$STATE/hosts.tsv") hosts, state in $STATE"
    print_hosts
    return 0
  fi
  lab_down >/dev/null
  setup_network
  make_control_files
  make_repo
  APPS=$(awk '$4 == "app" {print $1, $3, $5}' "$STATE/hosts.tsv")
  local id fqdn addr role cluster pids=() ids=() i failed=0
  while read -r id fqdn addr role cluster; do
    build_host "$id" "$fqdn" "$addr" "$role" >"$STATE/logs/$id.log" 2>&1 &
    pids+=($!) ids+=("$id")
  done <"$STATE/hosts.tsv"
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "host ${ids[$i]} failed:" >&2; sed 's/^/  /' "$STATE/logs/${ids[$i]}.log" >&2; failed=1; }
  done
  ((failed == 0)) || return 1
  write_ssh_files
  write_lab_json
  for ((i = 0; i < 300; i++)); do lab_ready && break; sleep 0.1; done
  lab_ready || { echo "lab did not become ready in 30 s (see lab.sh status)" >&2; return 1; }
  echo "lab up: $(wc -l <"$STATE/hosts.tsv") hosts, state in $STATE"
  print_hosts
}
