# `lab.sh status`: one line per host with its pid-file processes; exit 0 only if the whole lab
# is up (bridge present, every host's sshd and role daemons alive).

role_services() {
  case $1 in
    balancer) echo sshd:/run/sshd.pid haproxy:/run/haproxy.pid apache2:/run/apache2/apache2.pid nginx:/run/nginx.pid keepalived:/run/keepalived.pid ;;
    peer-balancer) echo sshd:/run/sshd.pid haproxy:/run/haproxy.pid keepalived:/run/keepalived.pid ;;
    dns) echo sshd:/run/sshd.pid named:/run/named/named.pid ;;
    db) echo sshd:/run/sshd.pid postgres:/run/postgresql/postgres.pid ;;
    monitor) echo sshd:/run/sshd.pid prometheus:/run/prometheus.pid ;;
    *) echo sshd:/run/sshd.pid shop:/srv/shop/run/shop.pid ;;
  esac
}

lab_status() {
  if [[ ! -f $STATE/lab.json ]]; then echo "lab is down (no $STATE/lab.json)"; return 1; fi
  local ok=0 id fqdn addr role cluster svc name file pid line
  bridge_up || { echo "bridge $BRIDGE missing"; ok=1; }
  while read -r id fqdn addr role cluster; do
    line="$(printf '%-28s %-12s %-9s' "$fqdn" "$addr" "$role")"
    for svc in $(role_services "$role"); do
      name=${svc%%:*} file=$HOSTS_DIR/$id${svc#*:}
      pid=$(cat "$file" 2>/dev/null | tr -dc 0-9)
      if [[ -n $pid ]] && alive "$pid" && pid_in_host "$id" "$pid"; then line+=" $name:$pid"
      else line+=" $name:DOWN"; ok=1; fi
    done
    echo "$line"
  done <"$STATE/hosts.tsv"
  # A lab built before it ran Prometheus has no mon host: not up, so `up` rebuilds it.
  grep -q ' monitor ' "$STATE/hosts.tsv" || { echo "no mon host (a lab from before Prometheus)"; ok=1; }
  if ((ok == 0)); then echo "lab is up"; else echo "lab is NOT fully up"; fi
  return $ok
}
