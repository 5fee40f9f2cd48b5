#!/usr/bin/env bash
# Runs a command under another Node.js major, from the npm package `node@<major>` (a registry package that
# ships the binary), installed once into a cache folder outside the repo. Usage: scripts/with-node.sh 24 npm test
set -euo pipefail
major="${1:?usage: scripts/with-node.sh <major> <command...>}"
shift
dir="${TIERBUS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierbus-node}/$major"
bin="$dir/node_modules/node/bin"
if ! "$bin/node" --version 2>/dev/null | grep -q "^v$major\."; then
  echo "with-node: installing node@$major into $dir"
  npm install --no-save --no-audit --no-fund --prefix "$dir" "node@$major" >/dev/null
fi
export PATH="$bin:$PATH"
echo "with-node: $(node --version) ($(command -v node))"
exec "$@"
