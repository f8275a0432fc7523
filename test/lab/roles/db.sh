# db: PostgreSQL shared by both clusters, as production has it: the database the schema-change
# tests expand and contract. Trust authentication for the lab subnet only (a lab, not a model of
# database security); data in the host's private /srv, pid file under its /run.

PG_PORT=5432

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $d ]] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; return 1; }
  echo "$d"
}

setup_db() {
  local root=$HOSTS_DIR/db bin
  bin=$(pg_bin)
  mkdir -p "$root/srv/pgdata" "$root/run/postgresql" "$root/var/log/postgresql"
  chown postgres:postgres "$root/srv/pgdata" "$root/run/postgresql" "$root/var/log/postgresql"
  chmod 700 "$root/srv/pgdata"
  in_host db runuser -u postgres -- "$bin/initdb" -D /srv/pgdata -A trust -U postgres >/dev/null
  cat >>"$root/srv/pgdata/pg_hba.conf" <<EOF2
host all all $SUBNET trust
EOF2
  in_host db runuser -u postgres -- "$bin/pg_ctl" -D /srv/pgdata -l /var/log/postgresql/postgres.log -w -s \
    -o "-c listen_addresses=10.213.7.6 -c port=$PG_PORT -c unix_socket_directories=/run/postgresql -c external_pid_file=/run/postgresql/postgres.pid -c fsync=off" start
  in_host db runuser -u postgres -- "$bin/createdb" -h /run/postgresql shop
}

# The app hosts reach it with this URL (shop.env); the lab app loads the pg client from the
# checkout's node_modules, which every lab host sees.
DATABASE_URL="postgres://postgres@10.213.7.6:$PG_PORT/shop"
