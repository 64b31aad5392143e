#!/usr/bin/env bash
# Installs the system programs the tests drive when missing: redis-server, Debian's chromium,
# npm for the browser tests' axe-core (scripts/node-deps.sh), for the network-namespace tests
# (tests/net) nftables and coturn (ip comes with iproute2), janus (the
# `bench viewers --baseline janus` server), and OpenSSL's headers (libssl-dev) so that
# streamer.forwarding._srtpgcm builds at install time (SRTP AES-GCM without libsrtp).
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v janus >/dev/null 2>&1 || missing+=(janus)
[ -f /usr/include/openssl/evp.h ] || missing+=(libssl-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
