#!/usr/bin/env bash
# The hand-written baseline a push is compared with: the fastest correct script a good engineer
# would write for the lab, with no orchestration at all.
#  - one multiplexed SSH connection per host (ControlMaster), all opened at once while the tag is
#    exported; every later command is a channel on an open connection;
#  - the runtime API over the balancer's connection; polls every 100 ms, as baton's;
#  - the release uploaded and unpacked on every host while the first cluster drains (as baton
#    stages during the drain), then per cluster: drain, wait for sessions, switch and restart all
#    its hosts in parallel with a local health check, ready, and wait until HAProxy sees them UP
#    (without that, draining the next cluster could leave nothing serving), next cluster.
# Usage: baseline-push.sh TAG   (lab only: reads /run/baton-lab)
set -euo pipefail
tag=$1
lab=/run/baton-lab
ctl=$(mktemp -d /tmp/baseline-ssh-XXXXXX)
archive=$ctl/release.tar.gz
ssh_lab() { ssh -F "$lab/ssh_config" -o BatchMode=yes -o ControlMaster=auto -o ControlPath="$ctl/%C" -o ControlPersist=120 "$@"; }
runtime() { ssh_lab lb.baton.test "socat stdio /run/haproxy/admin.sock" <<<"$1"; }

mapfile -t all_hosts < <(awk '$4 == "app" { print $2 }' "$lab/hosts.tsv")
cleanup() {
  for h in lb.baton.test "${all_hosts[@]}"; do ssh_lab -O exit "$h" 2>/dev/null || true; done
  rm -rf "$ctl"
}
trap cleanup EXIT

# Connections and the export at once.
pids=()
for h in lb.baton.test "${all_hosts[@]}"; do ssh_lab -fN "$h" & pids+=($!); done
commit=$(git -C "$lab/repo" rev-parse --verify "refs/tags/$tag^{commit}")
dir="${tag//\//_}-${commit:0:7}"
qdir=$(printf %q "$dir") # quoted once for the remote shell
git -C "$lab/repo" archive --format=tar.gz -o "$archive" "$commit"
for p in "${pids[@]}"; do wait "$p"; done

stage() { # host: unpack releases/$dir (atomically), nothing restarts
  ssh_lab "$1" "cd /srv/shop/releases && if [ ! -d $qdir ]; then rm -rf $qdir.tmp && mkdir $qdir.tmp && tar -xzf - -C $qdir.tmp && mv -T $qdir.tmp $qdir; else cat >/dev/null; fi" <"$archive"
}
activate() { # host: switch current, restart, wait for local health (100 ms polls)
  ssh_lab "$1" "ln -sfn releases/$qdir /srv/shop/current.next && mv -T /srv/shop/current.next /srv/shop/current && /srv/shop/bin/shopctl restart >/dev/null && until curl -fs -o /dev/null http://127.0.0.1:8000/healthz; do sleep 0.1; done"
}
busy() { # members…: sessions + queued on them
  runtime "show stat web 4 -1" | awk -F, -v list=" $* " 'index(list, " " $2 " ") { s += $5 + $3 } END { print s + 0 }'
}
not_up() { # members…: how many HAProxy does not see UP
  runtime "show stat web 4 -1" | awk -F, -v list=" $* " 'index(list, " " $2 " ") && $18 !~ /^UP/ { n++ } END { print n + 0 }'
}

first=1
for cluster in a b; do
  mapfile -t members < <(awk -v c="$cluster" '$4 == "app" && $5 == c { print $1 }' "$lab/hosts.tsv")
  mapfile -t hosts < <(awk -v c="$cluster" '$4 == "app" && $5 == c { print $2 }' "$lab/hosts.tsv")
  runtime "$(printf 'set server web/%s state drain;' "${members[@]}")" >/dev/null
  if [[ $first == 1 ]]; then
    staging=()
    for h in "${all_hosts[@]}"; do stage "$h" & staging+=($!); done
    for p in "${staging[@]}"; do wait "$p"; done
    first=0
  fi
  until [[ $(busy "${members[@]}") == 0 ]]; do sleep 0.1; done
  pids=()
  for h in "${hosts[@]}"; do activate "$h" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  runtime "$(printf 'set server web/%s state ready;' "${members[@]}")" >/dev/null
  until [[ $(not_up "${members[@]}") == 0 ]]; do sleep 0.1; done
done
