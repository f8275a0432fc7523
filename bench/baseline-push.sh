#!/usr/bin/env bash
# The hand-written baseline a push is compared with: the same steps as baton with no
# orchestration at all — runtime-API drain, poll sessions every 100 ms, deploy and restart the
# hosts of a cluster in parallel over ssh, local health check, ready, wait until HAProxy sees
# them up (without that, draining the next cluster would leave nothing serving), next cluster.
# Usage: baseline-push.sh TAG   (lab only: reads /run/baton-lab)
set -euo pipefail
tag=$1
lab=/run/baton-lab
ssh_lab() { ssh -F "$lab/ssh_config" -o BatchMode=yes "$@"; }
runtime() { ssh_lab lb.baton.test "socat stdio /run/haproxy/admin.sock" <<<"$1"; }

commit=$(git -C "$lab/repo" rev-parse --verify "refs/tags/$tag^{commit}")
dir="${tag//\//_}-${commit:0:7}"
archive=$(mktemp /tmp/baseline-XXXXXX.tar.gz)
trap 'rm -f "$archive"' EXIT
git -C "$lab/repo" archive --format=tar.gz -o "$archive" "$commit"

deploy() { # host
  ssh_lab "$1" "mkdir -p /srv/shop/releases/$dir.tmp && tar -xzf - -C /srv/shop/releases/$dir.tmp && rm -rf /srv/shop/releases/$dir && mv /srv/shop/releases/$dir.tmp /srv/shop/releases/$dir && ln -sfn releases/$dir /srv/shop/current.next && mv -T /srv/shop/current.next /srv/shop/current && /srv/shop/bin/shopctl restart && until curl -fs -o /dev/null http://127.0.0.1:8000/healthz; do sleep 0.1; done" <"$archive"
}

for cluster in a b; do
  mapfile -t members < <(awk -v c="$cluster" '$4 == "app" && $5 == c { print $1 }' "$lab/hosts.tsv")
  mapfile -t hosts < <(awk -v c="$cluster" '$4 == "app" && $5 == c { print $2 }' "$lab/hosts.tsv")
  runtime "$(printf 'set server web/%s state drain;' "${members[@]}")" >/dev/null
  while :; do
    busy=$(runtime "show stat web 4 -1" | awk -F, -v list=" ${members[*]} " 'index(list, " " $2 " ") { s += $5 + $3 } END { print s + 0 }')
    [[ $busy == 0 ]] && break
    sleep 0.1
  done
  pids=()
  for h in "${hosts[@]}"; do deploy "$h" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  runtime "$(printf 'set server web/%s state ready;' "${members[@]}")" >/dev/null
  until [[ $(runtime "show stat web 4 -1" | awk -F, -v list=" ${members[*]} " 'index(list, " " $2 " ") && $18 !~ /^UP/ { n++ } END { print n + 0 }') == 0 ]]; do sleep 0.1; done
done
