# mon: Prometheus (Debian's `prometheus`) scraping every app host's /metrics each second, what a
# canary's query (canary.analysis.query) asks. Its config and data are in the host's private /srv
# (under /run/baton-lab); Prometheus writes no pid file, so the shell that execs it writes
# /run/prometheus.pid, and `down` stops it by that file like every other daemon.
PROM_ADDR=10.213.7.9
PROM_PORT=9090

# One static target per app host, labelled with what the canary's placeholders name: cluster, member, host.
prometheus_yml() {
  local id fqdn addr role cluster
  cat <<EOF2
global: { scrape_interval: 1s, scrape_timeout: 900ms }
scrape_configs:
  - job_name: shop
    static_configs:
EOF2
  while read -r id fqdn addr role cluster; do
    [[ $role == app ]] || continue
    printf '      - { targets: ["%s:8000"], labels: { cluster: "%s", member: "%s", host: "%s" } }\n' \
      "$addr" "$cluster" "$id" "$fqdn"
  done <"$STATE/hosts.tsv"
}

setup_monitor() {
  local root=$HOSTS_DIR/mon
  mkdir -p "$root/srv/prometheus/data"
  prometheus_yml >"$root/srv/prometheus/prometheus.yml"
  chown -R prometheus:prometheus "$root/srv/prometheus"
  # nsenter execs bash, which writes its own pid and execs setpriv, which execs Prometheus: one pid throughout.
  in_host mon bash -c 'echo $$ >/run/prometheus.pid
    exec setpriv --reuid=prometheus --regid=prometheus --init-groups /usr/bin/prometheus \
      --config.file=/srv/prometheus/prometheus.yml --storage.tsdb.path=/srv/prometheus/data \
      --storage.tsdb.retention.time=1d --web.listen-address='"$PROM_ADDR:$PROM_PORT"' \
      >>/var/log/prometheus.log 2>&1 </dev/null' &
}
