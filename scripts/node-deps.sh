#!/usr/bin/env bash
# Installs the npm packages the browser tests inject into pages (axe-core, for the
# accessibility pass) into tests/browser/.node, which git ignores. Needs npm (scripts/system-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=tests/browser/.node
[ -f "$dest/node_modules/axe-core/axe.min.js" ] && exit 0
command -v npm >/dev/null 2>&1 || { echo "missing: npm; run scripts/system-deps.sh" >&2; exit 1; }
mkdir -p "$dest"
npm install --silent --no-audit --no-fund --prefix "$dest" axe-core@4.14.1
