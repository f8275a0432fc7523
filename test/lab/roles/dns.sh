# ns: BIND 9 authoritative for the lab zone, short TTLs so the DNS drill finishes in seconds,
# dynamic updates only with the lab's TSIG key (nsupdate -k /run/baton-lab/tsig.key).
TSIG_NAME=baton-lab-update

zone_file() {
  local id fqdn addr role cluster
  cat <<EOF2
\$TTL 10
@   IN SOA ns.$ZONE. hostmaster.$ZONE. ( 1 30 10 600 10 ) ; serial refresh retry expire minimum
@   IN NS ns.$ZONE.
EOF2
  while read -r id fqdn addr role cluster; do
    echo "${fqdn%.$ZONE} IN A $addr"
  done <<<"$(host_table)"
  # Service names: the public site and the internal cluster frontends all point at lb;
  # old-site is the DNS drill's name, moved from old-web to new-web during a migration.
  echo "www IN A 10.213.7.2"
  echo "www-pair IN A $VIP"
  echo "prod-a IN A 10.213.7.2"
  echo "prod-b IN A 10.213.7.2"
  echo "old-site IN A 10.213.7.4"
  # CNAMEs: one inside the zone (the drill moves its target, old-site), one to a name outside it (refused).
  echo "cname-site IN CNAME old-site"
  echo "provider-site IN CNAME shop.provider.example."
  # IPv6 (the DNS drill's hosts and the name it moves; the other hosts serve IPv4 only).
  local h
  for h in ns:10.213.7.3 old-web:10.213.7.4 new-web:10.213.7.5 old-site:10.213.7.4; do
    echo "${h%%:*} IN AAAA $(addr6_of "${h#*:}")"
  done
}

named_conf() {
  cat <<EOF2
include "/etc/bind/tsig.key";
options {
    directory "/var/cache/bind";
    pid-file "/run/named/named.pid";
    listen-on { any; };
    listen-on-v6 { any; };
    recursion no;
    dnssec-validation no;
    allow-transfer { none; };
};
controls { };
zone "$ZONE" {
    type primary;
    file "/var/cache/bind/$ZONE.zone";
    allow-update { key "$TSIG_NAME"; };
};
EOF2
}

setup_dns() {
  local root=$HOSTS_DIR/ns
  tsig-keygen -a hmac-sha256 "$TSIG_NAME" >"$STATE/tsig.key"
  chmod 600 "$STATE/tsig.key"
  install -m 640 -g bind "$STATE/tsig.key" "$root/etc/bind/tsig.key"
  named_conf >"$root/etc/bind/named.conf"
  zone_file >"$root/var/cache/bind/$ZONE.zone"
  mkdir -p "$root/run/named"
  chown bind:bind "$root/run/named" "$root/var/cache/bind" "$root/var/cache/bind/$ZONE.zone"
  in_host ns named-checkconf /etc/bind/named.conf
  in_host ns named -u bind -c /etc/bind/named.conf
}
