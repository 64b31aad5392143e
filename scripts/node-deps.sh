#!/usr/bin/env bash
# Installs the npm packages the browser tests inject into pages (axe-core, for the
# accessibility pass) into tests/browser/.node, which git ignores. Needs npm (Debian's `npm`).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=tests/browser/.node
[ -f "$dest/node_modules/axe-core/axe.min.js" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing: npm; install it (apt-get install npm) or run as root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq npm >/dev/null
fi
mkdir -p "$dest"
npm install --silent --no-audit --no-fund --prefix "$dest" axe-core@4.14.1
