#!/usr/bin/env bash
# Measures the alternative to the tarball: Node's single executable application (SEA).
# Not part of the release; README "Releases" says why. Usage, after npm run release:
#   scripts/release/sea-try.sh dist-release/meshsync-<version>-linux-x64
# Bundles app/ into one CommonJS file (esbuild), injects it into a copy of the
# bundled node (postject), puts better-sqlite3's addon beside it, and times
# `--version` for both. esbuild and postject come from the npm registry into a temp dir.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(cd "$1" && pwd)
node="$stage/runtime/bin/node"
tmp=$(mktemp -d /tmp/meshsync-sea.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
echo '{"name":"sea-try","private":true}' > package.json
"$here/tools/node24" npm install --silent --no-audit --no-fund esbuild@0.28 postject@1.0.0-alpha.6 >/dev/null
cat > "$stage/app/sea-entry.mjs" <<'JS'
import { main } from './dist/src/cli/main.js'
main(process.argv).then((c) => { process.exitCode = c })
JS
# import.meta.url -> the executable's URL; require -> a require that loads files from disk (the .node addon)
node_modules/.bin/esbuild "$stage/app/sea-entry.mjs" --bundle --platform=node --format=cjs --target=node24 --log-level=error \
  --outfile=bundle.cjs --define:import.meta.url=__meshsync_url \
  "--banner:js=const __meshsync_url = require('node:url').pathToFileURL(__filename).href; require = require('node:module').createRequire(process.execPath);"
rm "$stage/app/sea-entry.mjs"
echo '{ "main": "bundle.cjs", "output": "sea.blob", "disableExperimentalSEAWarning": true }' > sea.json
"$node" --experimental-sea-config sea.json >/dev/null
mkdir -p sea/bin sea/prebuilds
cp "$node" sea/bin/meshsync
node_modules/.bin/postject sea/bin/meshsync NODE_SEA_BLOB sea.blob --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null 2>&1
cp "$stage/app/node_modules/better-sqlite3/prebuilds/linux-x64.node" sea/prebuilds/
tar -czf sea.tar.gz -C sea .
echo "SEA: executable $(stat -c %s sea/bin/meshsync) bytes, gzipped with the addon $(stat -c %s sea.tar.gz) bytes"
time_ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
for i in 1 2 3 4 5; do
  echo "--version: SEA $(time_ms env -i PATH=/bin sea/bin/meshsync --version) ms, tarball $(time_ms env -i PATH=/bin "$stage/bin/meshsync" --version) ms"
done
