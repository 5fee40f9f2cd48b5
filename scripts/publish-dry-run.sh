#!/usr/bin/env bash
# `npm publish --dry-run` of every package under packages/ (run after `npm run build`): fails when npm would
# change a manifest on publish ("auto-corrected", e.g. a bin path it drops) or reports an error.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for dir in packages/*/; do args+=(-w "${dir%/}"); done
out=$(npm publish --dry-run "${args[@]}" 2>&1) || { echo "$out"; exit 1; }
if grep -qE "auto-corrected|npm error" <<<"$out"; then
  grep -E "warn publish|npm error" <<<"$out" | grep -v "requires you to be logged in"
  echo "publish-dry-run: npm would change or refuse a package (see above)"
  exit 1
fi
grep -E "npm notice filename:" <<<"$out" | sed -E 's/npm notice filename: */  /'
echo "publish-dry-run: $(( ${#args[@]} / 2 )) packages would publish as built"
