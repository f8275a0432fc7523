#!/bin/bash
# The integration lab: lab.sh up | status | down | packages | exec HOST -- CMD...  (see test/lab/README.md)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $EUID -eq 0 ]] || { echo "the lab needs root (network/mount namespaces, a bridge, mounts)" >&2; exit 1; }

# HOST may be the id (web1a), the short name (web-1.prod-a) or the FQDN.
host_id() {
  local want=${1%.$ZONE} id fqdn rest
  while read -r id fqdn rest; do
    [[ $want == "$id" || $want == "${fqdn%.$ZONE}" ]] && { echo "$id"; return 0; }
  done <"$STATE/hosts.tsv"
  echo "no lab host named $1" >&2; return 1
}

case ${1:-} in
  up)
    for f in packages host state up down status roles/balancer roles/dns roles/app roles/db roles/monitor; do . "$LAB_DIR/$f.sh"; done
    lab_up ;;
  packages) . "$LAB_DIR/packages.sh"; ensure_packages ;;
  down) . "$LAB_DIR/down.sh"; lab_down ;;
  status) . "$LAB_DIR/status.sh"; lab_status ;;
  exec)
    [[ ${3:-} == -- && $# -ge 4 ]] || { echo "usage: lab.sh exec HOST -- CMD..." >&2; exit 2; }
    [[ -f $STATE/hosts.tsv ]] || { echo "the lab is down (npm run lab:up)" >&2; exit 1; }
    id=$(host_id "$2"); shift 3
    in_host "$id" "$@" ;;
  *) echo "usage: lab.sh up|status|down|packages|exec HOST -- CMD..." >&2; exit 2 ;;
esac
