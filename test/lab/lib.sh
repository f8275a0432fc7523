# Shared names for the lab scripts (sourced, not run). Everything the lab creates is derived
# from these, so `down` can find it again even after a crashed `up`.

STATE=/run/baton-lab            # contract: other engineers read lab.json, keys, ssh_config here
HOSTS_DIR=$STATE/hosts          # per-host private dirs, bind-mounted inside each host
NS_DIR=$STATE/ns                # persistent mount/UTS namespace files (a private bind mount)
ZONE=baton.test
SUBNET=10.213.7.0/24
GUARD_ROUTE=10.213.0.0/16
# IPv6 inside the lab's own namespaces: a ULA /64 (host .N is ::N), its /32 unreachable like the IPv4 one.
SUBNET6=fd10:213:7::/64
GUARD_ROUTE6=fd10:213::/32
BRIDGE_ADDR6=fd10:213:7::1
VIP=10.213.7.8                  # floating address keepalived moves between lb and lb2 (www-pair)       # unreachable route: lab traffic never follows the default route
BRIDGE=baton0
BRIDGE_ADDR=10.213.7.1
PER_CLUSTER=${LAB_PER_CLUSTER:-2}
# The user baton logs in as: root logins are refused (PermitRootLogin no) on every host; it
# raises only what the README's minimal sudoers file allows.
DEPLOY_USER=deploy
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# App hosts sit at .11.. (cluster a) and .41.. (cluster b) up to 29 per cluster (the addresses the
# tests and README name); a bigger lab (the scale benchmark) puts them at .71.. and .161.., up to 90.
check_per_cluster() {
  [[ $PER_CLUSTER =~ ^[0-9]+$ ]] && ((PER_CLUSTER >= 1 && PER_CLUSTER <= 90)) ||
    { echo "LAB_PER_CLUSTER must be 1..90 (got $PER_CLUSTER)" >&2; exit 2; }
}

# One line per host: id fqdn address role cluster. The id names the netns, the veth and the
# HAProxy/Apache/nginx member (web<N><cluster>).
host_table() {
  echo "lb lb.$ZONE 10.213.7.2 balancer -"
  echo "lb2 lb2.$ZONE 10.213.7.7 peer-balancer -"
  echo "ns ns.$ZONE 10.213.7.3 dns -"
  echo "old-web old-web.$ZONE 10.213.7.4 old-web -"
  echo "new-web new-web.$ZONE 10.213.7.5 new-web -"
  echo "db db.$ZONE 10.213.7.6 db -"
  echo "mon mon.$ZONE 10.213.7.9 monitor -"
  local n a=10 b=40
  ((PER_CLUSTER > 29)) && { a=70; b=160; }
  for ((n = 1; n <= PER_CLUSTER; n++)); do echo "web${n}a web-$n.prod-a.$ZONE 10.213.7.$((a + n)) app a"; done
  for ((n = 1; n <= PER_CLUSTER; n++)); do echo "web${n}b web-$n.prod-b.$ZONE 10.213.7.$((b + n)) app b"; done
}

# Hosts that exist right now, whatever LAB_PER_CLUSTER says (down must clean up a bigger lab).
existing_ids() {
  { ls "$HOSTS_DIR" 2>/dev/null; ls "$NS_DIR" 2>/dev/null | sed -n 's/\.mnt$//p'; ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^baton-//p'; } | sort -u
}

# Run a command inside a host: its network, mount and UTS namespaces.
in_host() {
  local id=$1; shift
  nsenter --net=/run/netns/baton-"$id" --mount="$NS_DIR/$id.mnt" --uts="$NS_DIR/$id.uts" --wd=/ -- "$@"
}

# A pid is ours only if it lives in that host's network namespace; a stale pid file must
# never make us signal an unrelated process that reused the number.
pid_in_host() {
  local id=$1 pid=$2 want
  want=$(stat -L -c %i /run/netns/baton-"$id" 2>/dev/null) || return 1
  [[ $(readlink /proc/"$pid"/ns/net 2>/dev/null) == "net:[$want]" ]]
}

# Alive and not a zombie: PID 1 here reaps orphans ~2 s late, so a zombie counts as stopped.
alive() {
  local state
  # The state follows the last ')' (the command name may contain spaces or parentheses).
  state=$(sed -n 's/.*) \(.\).*/\1/p' /proc/"$1"/stat 2>/dev/null) && [[ -n $state && $state != Z ]]
}

# A host's IPv6 address: the same last number as its IPv4 one (10.213.7.4 → fd10:213:7::4).
addr6_of() { echo "fd10:213:7::${1##*.}"; }

bridge_up() { [[ -e /sys/class/net/$BRIDGE ]]; }
