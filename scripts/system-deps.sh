#!/usr/bin/env bash
# Installs the system programs the tests drive when missing: redis-server, Debian's chromium,
# and janus (the `bench viewers --baseline janus` server; its streaming plugin and HTTP
# transport come with the package).
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v janus >/dev/null 2>&1 || missing+=(janus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
