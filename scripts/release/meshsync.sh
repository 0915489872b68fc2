#!/bin/sh
# meshsync launcher of a release tarball / .deb: always the Node.js runtime
# shipped beside it (runtime/bin/node), whatever Node the host has or lacks.
set -eu
src=$0
while [ -L "$src" ]; do
  dir=$(cd -P "$(dirname "$src")" && pwd)
  src=$(readlink "$src")
  case $src in /*) ;; *) src=$dir/$src ;; esac
done
root=$(cd -P "$(dirname "$src")/.." && pwd)
exec "$root/runtime/bin/node" "$root/app/dist/src/cli/bin.js" "$@"
