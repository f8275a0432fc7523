# Debian packages the lab needs; CI starts from a fresh machine, so `up` installs what is missing.
# chromium: the report tests open `baton report` pages headless (unit and lab).
# libnginx-mod-http-lua (with lua-resty-core): the reload-free nginx (balancer.mode: lua) on lb's :8090.
# keepalived: the floating address between lb and lb2 (the balancer-pair tests).
# postgresql: the database both clusters share in the schema-change tests (server on db, psql on app hosts).
# sudo: the deploy user raises the balancers' configtest and reload through sudo -n.
# zstd: an artifact built once may be compressed with it (artifact.compression; a unit test packs one).
# prometheus: the canary's query (canary.analysis.query) asks it; it runs on the mon host, scraping every app host.
PACKAGES=(sudo haproxy apache2 nginx varnish bind9 bind9-utils bind9-dnsutils openssh-server
  openssh-client wrk socat rsync curl git iproute2 util-linux chromium postgresql libnginx-mod-http-lua lua-resty-core keepalived zstd prometheus)

ensure_packages() {
  local p missing=() own_policy=""
  for p in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "installing ${missing[*]}"
  # Package scripts must not start daemons in the root namespace: policy-rc.d 101 forbids it.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    { [[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d; return 1; }
  [[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
}
